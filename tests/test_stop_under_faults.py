"""A stop always completes: `bot run` in live mode, SIGTERM at random
moments while the exchange answers slowly or with errors, 20 times on one
run. Every stop finishes within 5 s, and the run it leaves is whole: each
bar once, in order, and a position that is the sum of its fills."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, rows
from fake_exchange import KLINES, FakeExchange
from test_live_end_to_end import live_rhythm_config, wait_for_live_predictions

STOPS = 20
STOP_LIMIT_S = 5.0


def count(db: Path, query: str) -> int:
    try:
        return rows(db, query)[0][0] if db.exists() else 0
    except Exception:  # noqa: BLE001 - tables not made yet
        return 0


@pytest.mark.slow
def test_sigterm_at_random_moments_under_exchange_faults_always_stops_in_time(tmp_path: Path) -> None:
    rng = random.Random(12)
    db = tmp_path / "bot.sqlite"
    with FakeExchange() as fake:
        fake.add_generated_market("BTC/USDT", "1s", seed=8)
        config = live_rhythm_config(tmp_path, fake, timeout_ms=4_000)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT__")}
        durations = []
        with (tmp_path / "console.txt").open("w+") as console:
            for attempt in range(STOPS):
                daemon = subprocess.Popen([sys.executable, "-m", "bot", "run", "-c", str(config)], cwd=REPO,
                                          env=env, stdout=console, stderr=console, text=True)
                if attempt == 0:  # the first start trains the model the others resume with
                    wait_for_live_predictions(db, time.time() * 1000, 3, daemon)
                else:
                    seen = count(db, "SELECT COUNT(*) FROM bars")
                    deadline = time.monotonic() + 120
                    while count(db, "SELECT COUNT(*) FROM bars") <= seen and time.monotonic() < deadline:
                        time.sleep(0.1)  # running: it has committed a bar since it started
                # Faults on the next requests: replies slower than a bar, and errors.
                fake.slow_next(KLINES, rng.uniform(1.0, 3.5), times=rng.randint(1, 3))
                fake.fail_next(KLINES, status=rng.choice([500, 503]), times=rng.randint(0, 2) or 1)
                time.sleep(rng.uniform(0.0, 2.5))
                asked = time.monotonic()
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=30)
                finally:
                    durations.append(time.monotonic() - asked)
                    if daemon.poll() is None:
                        daemon.kill()
                assert daemon.returncode in (0, -signal.SIGTERM), f"stop {attempt}: exit {daemon.returncode}"
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
