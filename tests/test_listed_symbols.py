"""A symbol the exchange does not list is refused at start, naming it and
the listed one it most likely meant: unlisted, every fetch failed with
ccxt's BadSymbol and the daemon ran on without ever trading. An exchange
that cannot be asked right now refuses nothing."""

from __future__ import annotations

import socket
from pathlib import Path

from fake_exchange import FakeExchange
from helpers import write_config
from test_config_errors import run_bot

from bot.config import ExchangeConfig
from bot.market.ccxt_feed import make_exchange
from bot.market.listed_symbols import refuse_unlisted_symbols


def test_bot_run_live_refuses_a_symbol_the_exchange_does_not_list(tmp_path: Path) -> None:
    with FakeExchange() as fake:
        fake.add_generated_market("BTC/USDT", "1h", seed=1)
        fake.add_generated_market("ETH/USDT", "1h", seed=2)
        config = write_config(tmp_path, {
            "mode": "live", "symbols": ["btc/usdt", "ETH/USDT", "XYZ/USDT"],
            "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options()},
        })  # fmt: skip
        refused = run_bot("run", "-c", str(config), timeout=300)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "config error: symbols: binance does not list 'btc/usdt' (did you mean 'BTC/USDT'?), 'XYZ/USDT'"
    ]
    assert not (tmp_path / "bot.sqlite").exists()  # refused before any state was made


def test_bot_download_and_bot_train_refuse_it_too(tmp_path: Path) -> None:
    """The other two commands that start from the exchange: a typo used to
    end `bot download` in BadSymbol's exchange error (exit 1) and `bot
    train` in "too little history", neither naming the symbol's field."""
    with FakeExchange() as fake:
        fake.add_generated_market("BTC/USDT", "1h", seed=1)
        config = write_config(tmp_path, {
            "mode": "live", "symbols": ["BTC/USDT"],
            "exchange": {"name": "binance", "urls": fake.ccxt_urls(), "options": fake.ccxt_options()},
        })  # fmt: skip
        download = run_bot("download", "-c", str(config), "--since", "2024-01-01", "--symbol", "btc/usdt", timeout=300)
        config_text = config.read_text().replace("BTC/USDT", "BTC/USTD")
        config.write_text(config_text)
        train = run_bot("train", "-c", str(config), timeout=300)
    assert download.returncode == 2, download.stdout + download.stderr
    assert download.stderr.strip().splitlines() == [
        "config error: symbols: binance does not list 'btc/usdt' (did you mean 'BTC/USDT'?)"
    ]
    assert train.returncode == 2, train.stdout + train.stderr
    assert train.stderr.strip().splitlines() == ["config error: symbols: binance does not list 'BTC/USTD'"]
    assert not (tmp_path / "bot.sqlite").exists()  # neither made a database


def test_an_exchange_out_of_reach_refuses_nothing() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket closes
    base = f"http://127.0.0.1:{port}"  # the fake exchange's paths, on a port nobody serves
    urls = {"public": f"{base}/api/v3", "private": f"{base}/api/v3", "v1": f"{base}/api/v1"}
    exchange = make_exchange(ExchangeConfig(name="binance", urls=urls, options=FakeExchange().ccxt_options(),
                                            timeout_ms=5_000))
    refuse_unlisted_symbols(exchange, ["BTC/USDT"])  # returns: the daemon's fetches will retry
