"""A stop always completes: `bot run` in live mode on the testnet broker,
SIGTERM at random moments while the exchange answers slowly, with errors,
or not at all to an order it accepted (a lost acknowledgement), 20 times
on one run. Every stop finishes within 5 s; the run it leaves is whole
(each bar once, in order, a position that is the sum of its fills); and
after one more start, whose reconciliation looks up what the stops left
unknown, the ledger equals the exchange's own records."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest
from fake_exchange import KLINES, FakeExchange
from helpers import REPO, WaitTimedOut, rows, wait_until
from test_live_end_to_end import wait_for_live_predictions
from test_testnet_end_to_end import (
    INITIAL_USDT,
    KEY,
    SECRET,
    SYMBOL,
    assert_books_match_exchange,
    env_with_keys,
    write_testnet_config,
)

STOPS = 20
STOP_LIMIT_S = 5.0


def count(db: Path, query: str) -> int:
    try:
        return rows(db, query)[0][0] if db.exists() else 0
    except Exception:  # noqa: BLE001 - tables not made yet
        return 0


def wait_a_while_for_bars(db: Path, more_than: int) -> None:
    """Until more than `more_than` bars are stored, or 120 s: only a best
    effort, whatever happens next is what the test checks."""
    with suppress(WaitTimedOut):
        wait_until(lambda: count(db, "SELECT COUNT(*) FROM bars") > more_than, timeout_s=120,
                   what=f"more than {more_than} bars", poll_s=0.1)


@pytest.mark.slow
def test_sigterm_at_random_moments_under_exchange_faults_always_stops_in_time(tmp_path: Path) -> None:
    rng = random.Random(12)
    db = tmp_path / "bot.sqlite"
    with FakeExchange() as fake:
        fake.add_generated_market(SYMBOL, "1s", seed=8)
        fake.enable_trading(KEY, SECRET, {"USDT": INITIAL_USDT, "BTC": 0.0})
        config = write_testnet_config(tmp_path, fake)  # order replies time out after 2 s
        env = env_with_keys()
        durations = []
        with (tmp_path / "console.txt").open("w+") as console:
            def start() -> subprocess.Popen:
                return subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO,
                                        env=env, stdout=console, stderr=console, text=True)

            for attempt in range(STOPS):
                daemon = start()
                if attempt == 0:  # the first start trains the model the others resume with
                    wait_for_live_predictions(db, time.time() * 1000, 3, daemon, output=tmp_path / "console.txt")
                else:
                    # Running: it has committed a bar since it started.
                    wait_a_while_for_bars(db, more_than=count(db, "SELECT COUNT(*) FROM bars"))
                # Faults on the next requests: replies slower than a bar, and errors.
                fake.slow_next(KLINES, rng.uniform(1.0, 3.5), times=rng.randint(1, 3))
                fake.fail_next(KLINES, status=rng.choice([500, 503]), times=rng.randint(0, 2) or 1)
                fake.account.lose_next_ack(delay_seconds=rng.uniform(2.5, 4.0))
                time.sleep(rng.uniform(0.0, 2.5))
                asked = time.monotonic()
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    daemon.send_signal(signal.SIGUSR2)  # its threads' stacks, to the console
                    time.sleep(2)
                    console.seek(0)
                    pytest.fail(f"stop {attempt} still running 30 s after SIGTERM:\n{console.read()[-20000:]}")
                finally:
                    durations.append(time.monotonic() - asked)
                    if daemon.poll() is None:
                        daemon.kill()
                assert daemon.returncode in (0, -signal.SIGTERM), f"stop {attempt}: exit {daemon.returncode}"
            fake.clear_faults()  # the account's lost acknowledgements too
            final = start()  # its reconciliation settles the orders the stops left unknown
            try:
                wait_a_while_for_bars(db, more_than=count(db, "SELECT COUNT(*) FROM bars") + 3)
            finally:
                final.send_signal(signal.SIGTERM)
                final.wait(timeout=30)
            console.seek(0)
            output = console.read()
    print(f"stop durations: median {sorted(durations)[len(durations) // 2]:.2f} s, max {max(durations):.2f} s")
    assert len(durations) == STOPS and max(durations) <= STOP_LIMIT_S, durations
    assert "Traceback" not in output

    ts = [t for (t,) in rows(db, "SELECT ts FROM bars ORDER BY ts")]
    assert len(ts) == len(set(ts)) and ts == sorted(ts)  # each bar once, in order, whatever was cut short
    net = rows(db, "SELECT COALESCE(SUM(CASE side WHEN 'buy' THEN qty ELSE -qty END), 0) FROM fills")[0][0]
    held = rows(db, "SELECT COALESCE((SELECT qty FROM positions ORDER BY ts DESC LIMIT 1), 0)")[0][0]
    assert net == pytest.approx(held, abs=1e-9)
    assert count(db, "SELECT COUNT(*) FROM fills") > 0  # it traded between the stops
    # What the stops left unknown was looked up, nothing was sent twice, and
    # the ledger holds exactly what the exchange did.
    assert count(db, "SELECT COUNT(*) FROM events WHERE kind = 'order_ack_lost'") > 0
    assert len(set(fake.account.placed)) == len(fake.account.placed)
    assert_books_match_exchange(db, fake)
