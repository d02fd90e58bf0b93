"""Credentials come from the environment and are masked wherever a log
line would carry them, whatever the field is called."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import structlog

from bot.config import ConfigError
from bot.logging_setup import configure_logging
from bot.secrets import keys_from_env

SECRET = "s3cr3t-value-never-logged"


def test_missing_credential_is_named(monkeypatch) -> None:
    monkeypatch.delenv("BOT_EXCHANGE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="BOT_EXCHANGE_API_KEY"):
        keys_from_env(needs_password=False)
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    monkeypatch.delenv("BOT_EXCHANGE_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="BOT_EXCHANGE_PASSWORD"):
        keys_from_env(needs_password=True)


def test_secret_values_are_masked_in_log_lines_and_reprs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key-abc")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    keys = keys_from_env(needs_password=False)
    assert SECRET not in repr(keys) and SECRET not in str(keys)
    log_file = tmp_path / "bot.jsonl"
    configure_logging("INFO", log_file, console_level="INFO")
    log = structlog.get_logger("test")
    log.info("request", url=f"https://x/order?secret={SECRET}", note=f"echo {SECRET}", nested={"k": SECRET})
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("crashed")
    text = log_file.read_text() + capsys.readouterr().err
    assert "request" in text and "crashed" in text
    assert SECRET not in text
    assert text.count("***") >= 4


def test_an_exchange_text_that_echoes_a_credential_is_masked_in_events_and_notifications(
    tmp_path: Path, monkeypatch
) -> None:
    """The broker's `order_rejected` stored the exchange's reply as it came,
    apiKey included: in the events table, `bot status`, the API and the
    notification, none of which the log's scrubbing sees."""
    from dataclasses import replace

    from test_store import first_step

    from bot.app.notify import _body
    from bot.domain import Event
    from bot.store import Store

    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key-echoed-by-the-exchange")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    keys_from_env(needs_password=False)
    reply = 'BadRequest: binance {"code":-1013,"msg":"Filter failure: NOTIONAL (apiKey=key-echoed-by-the-exchange)"}'
    rejected = Event(1, "order_rejected", reply, level="error", symbol="BTC/USDT", data={"reply": reply})
    db = tmp_path / "bot.sqlite"
    store = Store(f"sqlite:///{db}")
    try:
        store.commit_step(replace(first_step(), events=[rejected]))  # a bar step's event
        store.add_event(replace(rejected, ts=2))  # one from outside a step
    finally:
        store.close()
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT message, data_json FROM events ORDER BY ts").fetchall()
    assert len(stored) == 2
    for message, data in stored:
        assert "key-echoed-by-the-exchange" not in message + data and "apiKey=***" in message
    assert "key-echoed-by-the-exchange" not in _body(rejected) and "apiKey=***" in _body(rejected)


def test_a_credential_an_error_echoes_where_its_line_is_cut_is_masked_whole(monkeypatch) -> None:
    """An error's text is cut to a bounded line for events and logs; the cut
    used to come before the masking, so a credential straddling it left its
    first characters, which no longer matched the whole value, in the
    `fetch_failed` event and the log (seen: `secret=hk-secret-SUPER`)."""
    import ccxt

    from bot import error_text
    from bot.market import ccxt_feed

    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key-cut-short")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    keys_from_env(needs_password=False)
    for at in range(270, 300):  # the secret straddles the 300-character cut
        text = "binance " + "y" * (at - len("binance ")) + f"secret={SECRET}"
        exc = ccxt.AuthenticationError(text)
        for shown in (ccxt_feed.reply_line(exc), ccxt_feed.network_reason(exc), error_text.first_line(exc)[:300]):
            assert SECRET[:4] not in shown, shown


def test_every_shortened_text_is_masked_before_it_is_cut(monkeypatch) -> None:
    """A strategy's exception and an exchange's odd reply are shortened for
    events with `brief`; a credential straddling its cut left a piece."""
    from bot.brief_text import brief

    monkeypatch.setenv("BOT_EXCHANGE_API_KEY", "key-cut-short")
    monkeypatch.setenv("BOT_EXCHANGE_SECRET", SECRET)
    keys_from_env(needs_password=False)
    for at in range(60, 80):
        shown = brief("x" * at + SECRET, 80)
        assert SECRET[:4] not in shown, shown
