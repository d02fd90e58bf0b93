"""Notifications for real: `bot run` on a crafted replay sends its events
through apprise's json:// scheme to a receiver on 127.0.0.1. A stop-out
and a kill switch each deliver exactly one message; a receiver that never
answers holds up no bar, and the URL, a secret, is in no log line."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, rows, write_config
from test_config_errors import assert_refused, run_bot

HOUR = 3_600_000
START = 1_672_531_200_000  # 2023-01-01
BARS = 300
CRASH = 200  # the bar that opens 6% down: through the 3% stop, past the 5% drawdown limit

ALWAYS_LONG = """
from bot.domain import Signal
from bot.strategy import Strategy


class AlwaysLong(Strategy):
    def decide(self, ctx):
        return Signal(1.0, "long")
"""


def crafted_market(path: Path) -> Path:
    """A quiet market about 100, then one bar that opens 6% below the last close."""
    rng = np.random.default_rng(3)
    lines = ["timestamp,open,high,low,close,volume"]
    close = 100.0
    for i in range(BARS):
        open_ = close * (0.94 if i == CRASH else 1.0)
        close = open_ * float(np.exp(rng.normal(0.0, 0.001)))
        high, low = max(open_, close) * 1.001, min(open_, close) * 0.999
        lines.append(f"{START + i * HOUR},{open_!r},{high!r},{low!r},{close!r},{rng.uniform(50, 150)!r}")
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def config_for(directory: Path) -> Path:
    (directory / "strategies").mkdir()
    (directory / "strategies" / "always_long.py").write_text(ALWAYS_LONG)
    path = write_config(directory, {
        "replay": {"data": str(crafted_market(directory / "market.csv.gz")), "start": None, "end": None},
        "risk": {"max_position_fraction": 1.0, "stop_loss_pct": 0.03, "max_drawdown_pct": 0.05},
        "retrain": {"initial_train_bars": 250},  # the test is about events, not a model
        "notify": {"timeout_seconds": 30, "drain_seconds": 20},
    })
    config = yaml.safe_load(path.read_text())
    config["strategy"] = {"name": "always_long", "path": str(directory / "strategies"), "params": {}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def bot_run(config: Path, url: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BOT_")}, "BOT_NOTIFY_URLS": url}
    return subprocess.run([sys.executable, "-m", "bot", "run", "--no-progress", "-c", str(config)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_a_stop_out_and_a_kill_switch_each_send_one_message(tmp_path: Path, receiver: Receiver) -> None:
    config = config_for(tmp_path)
    # At DEBUG apprise logged each URL rewritten as http://..., past the masking.
    config.write_text(config.read_text().replace("logging:\n", "logging:\n  level: DEBUG\n", 1))
    url = f"json://127.0.0.1:{receiver.server_address[1]}/hook/secret-path-abc123"
    done = bot_run(config, url)
    assert done.returncode == 0, done.stderr[-3000:]
    db = tmp_path / "bot.sqlite"
    stored = {kind: n for kind, n in rows(db, "SELECT kind, COUNT(*) FROM events GROUP BY kind")}
    assert stored.get("stop_loss") == 1 and stored.get("kill_switch") == 1, stored

    titles = [m["title"] for m in receiver.messages]
    assert titles.count("bot: stop loss BTC/USDT") == 1, titles
    assert titles.count("bot: kill switch") == 1, titles
    kill = next(m for m in receiver.messages if m["title"] == "bot: kill switch")
    assert "drawdown" in kill["message"] and "flattening all positions" in kill["message"]
    assert kill["type"] == "failure"  # an error-level event, as the receiver's type (it came as info)
    # Events not on the notify list (the crash is flagged as an extreme move) send nothing.
    assert stored.get("extreme_move") and not any("extreme" in t for t in titles)
    for log in (tmp_path / "bot.jsonl", ):
        assert "secret-path-abc123" not in log.read_text()
    assert "secret-path-abc123" not in done.stdout + done.stderr


def hold_first_request(listener: socket.socket, db: Path, seen: dict) -> None:
    """Accept one connection, read it and never answer; when the sender
    lets go (it gave up, or its process ended), count the bars stored."""
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(0.2)
        while True:
            try:
                if not connection.recv(65_536):
                    break
            except TimeoutError:
                continue
    seen["bars_when_let_go"] = rows(db, "SELECT COUNT(*) FROM bars")[0][0]


def test_a_receiver_that_never_answers_holds_up_no_bar(tmp_path: Path) -> None:
    """The receiver holds the first message (the stop-out, bar 200) without
    an answer. A bar job that waited on it would stand at that bar until the
    sender's timeout let go; this one steps all 300 bars first, and lets go
    only when the run ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(300)  # a hang guard: the notifier connects at bar 200
    seen: dict = {}
    holder = threading.Thread(target=hold_first_request, args=(listener, tmp_path / "bot.sqlite", seen), daemon=True)
    try:
        config = config_for(tmp_path)
        config.write_text(config.read_text().replace("drain_seconds: 20", "drain_seconds: 0"))
        holder.start()
        done = bot_run(config, f"json://127.0.0.1:{listener.getsockname()[1]}/hook")
        assert done.returncode == 0, done.stderr[-3000:]
        holder.join(60)
        assert rows(tmp_path / "bot.sqlite", "SELECT COUNT(*) FROM events WHERE kind = 'kill_switch'")[0][0] == 1
        assert seen == {"bars_when_let_go": BARS}
    finally:
        listener.close()


class FlakyReceiver(Receiver):
    """Answers 500 to its first `failures` requests, then takes them."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures_left = failures
        self.requests = 0
        handler = self.RequestHandlerClass
        server = self

        class Flaky(handler):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                server.requests += 1
                if server.failures_left > 0:
                    server.failures_left -= 1
                    self.rfile.read(int(self.headers["Content-Length"]))
                    self.send_response(500)
                    self.end_headers()
                    return
                super().do_POST()

        self.RequestHandlerClass = Flaky


def test_fills_daily_summaries_and_levels_as_configured_and_a_failed_send_retried(tmp_path: Path) -> None:
    server = FlakyReceiver(failures=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = config_for(tmp_path)
        data = yaml.safe_load(config.read_text())
        data["notify"].update({"daily_summary": True, "retries": 2,
                               "events": {"fill": "info", "daily_summary": "info", "kill_switch": "off",
                                          "*": "warning"}})
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        done = bot_run(config, f"json://127.0.0.1:{server.server_address[1]}/hook")
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        server.shutdown()
        server.server_close()
    db = tmp_path / "bot.sqlite"
    titles = [m["title"] for m in server.messages]
    fills = rows(db, "SELECT COUNT(*) FROM fills")[0][0]
    assert titles.count("bot: fill BTC/USDT") == fills > 0
    # One summary per UTC day that ended after the first step.
    closes = [ts + HOUR for (ts,) in rows(db, "SELECT ts FROM bars ORDER BY ts")]
    days = len({c // 86_400_000 for c in closes}) - 1
    summaries = [m for m in server.messages if m["title"] == "bot: daily summary"]
    assert len(summaries) == days > 5 and all("equity" in m["message"] for m in summaries)
    # "*" at warning lets the extreme move through; the kill switch is off.
    assert titles.count("bot: extreme move BTC/USDT") == 1 and "bot: kill switch" not in titles
    # The first message was refused once, tried again and delivered: one request more than messages.
    assert server.requests == len(server.messages) + 1
    logged = [json.loads(line) for line in (tmp_path / "bot.jsonl").read_text().splitlines()]
    failed = [entry for entry in logged if entry.get("event") == "notification_failed"]
    assert [(f["attempt"], f["of"]) for f in failed] == [(1, 3)]


def test_a_blocked_entry_is_matched_by_its_rule_and_levels_are_minimums() -> None:
    from bot.app.notify import Notifier
    from bot.domain import Event

    notifier = Notifier([], {"stale_data": "warning", "cooldown": "off", "fetch_failed": "error", "*": "off"}, 1.0)
    try:
        stale = Event(0, "order_blocked", "stale data: ...", "warning", "X", {"rule": "stale_data"})
        cooling = Event(0, "order_blocked", "cooldown: ...", "warning", "X", {"rule": "cooldown"})
        assert notifier.wants(stale) and not notifier.wants(cooling)
        assert notifier.wants(Event(0, "fetch_failed", "down", "error"))
        assert not notifier.wants(Event(0, "fetch_failed", "slow", "warning"))
        assert not notifier.wants(Event(0, "anything_else", "x", "error"))
    finally:
        notifier.close(0)


@pytest.mark.parametrize(("urls", "says"), [
    ("xyz://secret-token-123", "the URL (xyz://...) is not one apprise can send to"),
    ("not a url", "URL 1 of 3 is not a URL"),  # each word taken for a URL, and each masked as a secret
    ("json://127.0.0.1:9/hook ftp://secret-token-123/x", "URL 2 of 2 (ftp://...) is not one apprise can send to"),
])
def test_a_url_apprise_cannot_use_is_refused_at_start_without_showing_it(tmp_path: Path, urls: str, says: str) -> None:
    """Accepted at start, such a URL failed at every notification with a
    warning; with "not a url" the word `a` became a secret and every `a`
    on the console and in the log was masked."""
    config = config_for(tmp_path)
    done = run_bot("run", "-c", str(config), "--no-progress", env={"BOT_NOTIFY_URLS": urls})
    assert_refused(done, "BOT_NOTIFY_URLS: ")
    assert says in done.stderr, done.stderr
    log = tmp_path / "bot.jsonl"
    assert "secret-token" not in done.stdout + done.stderr + (log.read_text() if log.exists() else "")
    assert not (tmp_path / "bot.sqlite").exists()
