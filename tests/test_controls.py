"""The controls of `bot serve` (pause, resume, flatten, promote), for real:
a server on a free 127.0.0.1 port over a replay's database, POSTs with and
without the bearer token, and the replay continued afterwards to see each
request take effect at the next bar, with an event that names its origin."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO, replay, rows, wait_until, write_config
from test_serve import free_port, get, pinged

TOKEN = "s3cret-token-for-tests"
ALWAYS_LONG = {
    # Long from the first scored bar and never out on the strategy's word: a
    # position is open when the controls are tried.
    "strategy": {"params": {"enter_above": 0.001, "exit_below": 0.0005}},
    "risk": {"stop_loss_pct": 0.5},
}


def post(base: str, path: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method="POST", data=b"")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read().decode())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode())


def serve(directory: Path, token: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "BOT_API_TOKEN"}
    if token is not None:
        env["BOT_API_TOKEN"] = token
    output = directory / f"serve-{port}.txt"
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "-c", str(directory / "config.yaml"), "--port", str(port)],
        cwd=REPO, env=env, stdout=output.open("w"), stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(pinged(base), timeout_s=120, what="bot serve to answer", process=server, output=output)
    return server, base


@pytest.fixture(scope="module")
def run_with_position(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("controls")
    config = write_config(directory, ALWAYS_LONG)
    replay(config, max_bars=1_200)  # a second model version too, for the promotion
    (qty,), = rows(directory / "bot.sqlite", "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")
    assert qty > 0, "the run should hold a position when the controls are tried"
    return directory


@pytest.fixture(scope="module")
def served(run_with_position: Path) -> Iterator[str]:
    server, base = serve(run_with_position, TOKEN)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def events(db: Path, kind: str) -> list[tuple[int, str]]:
    return rows(db, f"SELECT ts, message FROM events WHERE kind = '{kind}' ORDER BY id")


def halt(db: Path) -> tuple[bool, str | None]:
    state = json.loads(rows(db, "SELECT value FROM run_meta WHERE key = 'risk_state'")[0][0])
    return state["halted"], state["halt_reason"]


def test_controls_are_refused_without_the_right_token(served: str, run_with_position: Path) -> None:
    before = rows(run_with_position / "bot.sqlite", "SELECT key, value FROM run_meta ORDER BY key")
    for path in ("pause", "resume", "flatten", "promote/v0001"):
        assert post(served, f"/api/v1/control/{path}")[0] == 401
        assert post(served, f"/api/v1/control/{path}", token="wrong")[0] == 401
        assert post(served, f"/api/v1/control/{path}", token=TOKEN + "x")[0] == 401
    assert rows(run_with_position / "bot.sqlite", "SELECT key, value FROM run_meta ORDER BY key") == before


def test_a_server_without_a_token_refuses_every_control(run_with_position: Path) -> None:
    server, base = serve(run_with_position, None)
    try:
        status, body = post(base, "/api/v1/control/pause", token="anything")
        assert status == 401 and "BOT_API_TOKEN" in body["detail"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_flatten_then_resume_take_effect_at_the_next_bar(served: str, run_with_position: Path) -> None:
    directory, db = run_with_position, run_with_position / "bot.sqlite"
    config = directory / "config.yaml"
    (last_step,), = rows(db, "SELECT MAX(ts) FROM equity")

    status, body = post(served, "/api/v1/control/flatten", token=TOKEN)
    assert status == 202 and body["accepted"] == "flatten"
    assert rows(db, "SELECT COUNT(*) FROM orders WHERE reason = 'operator_flatten'")[0][0] == 0  # not yet

    replay(config, max_bars=2)  # the next bar sends the flatten, the one after fills it at its open
    (requested_ts, message), = events(db, "flatten_requested")
    assert requested_ts > last_step and "the API (127.0.0.1)" in message
    (side, order_ts, status_now), = rows(db, "SELECT side, created_ts, status FROM orders "
                                              "WHERE reason = 'operator_flatten'")
    assert side == "sell" and status_now == "filled"
    (qty,), = rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")
    assert qty == 0
    halted, reason = halt(db)
    assert halted and reason == "flattened by the operator (the API (127.0.0.1))"

    replay(config, max_bars=5)  # halted: the always-long strategy may not enter again
    assert rows(db, f"SELECT COUNT(*) FROM orders WHERE side = 'buy' AND created_ts > {order_ts}")[0][0] == 0

    status, body = post(served, "/api/v1/control/resume", token=TOKEN)
    # No daemon holds the run: cleared at once, and said so (it answered "at the daemon's next bar").
    assert status == 200 and body["takes_effect"] == "now"
    assert body["was_halted"] == reason and body["cancelled"] == []
    assert halt(db) == (False, None)
    replay(config, max_bars=3)  # and it enters again
    assert rows(db, f"SELECT COUNT(*) FROM orders WHERE side = 'buy' AND created_ts > {order_ts}")[0][0] >= 1
    assert any("resumed by the API (127.0.0.1)" in m for _, m in events(db, "resumed"))


def test_pause_halts_entries_and_keeps_the_position(served: str, run_with_position: Path) -> None:
    db, config = run_with_position / "bot.sqlite", run_with_position / "config.yaml"
    post(served, "/api/v1/control/resume", token=TOKEN)
    replay(config, max_bars=3)
    (qty_before,), = rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")

    status, body = post(served, "/api/v1/control/pause", token=TOKEN)
    assert status == 202 and body["accepted"] == "pause"
    replay(config, max_bars=3)
    halted, reason = halt(db)
    assert halted and reason == "paused by the operator (the API (127.0.0.1))"
    assert any(reason in m for _, m in events(db, "entries_halted"))
    (qty_after,), = rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")
    assert qty_after == qty_before  # a pause closes nothing


def test_promote_through_the_api_makes_the_champion(served: str, run_with_position: Path) -> None:
    db = run_with_position / "bot.sqlite"
    versions = [v for (v,) in rows(db, "SELECT version FROM model_versions ORDER BY version")]
    (champion,), = rows(db, "SELECT version FROM model_versions WHERE status = 'champion'")
    other = next(v for v in versions if v != champion)
    assert post(served, "/api/v1/control/promote/v9999-nothing", token=TOKEN)[0] == 404
    status, body = post(served, f"/api/v1/control/promote/{other}", token=TOKEN)
    assert status == 202 and body == {"accepted": "promote", "takes_effect": "at the daemon's next bar",
                                      "version": other, "previous": champion, "gate_rejected": False,
                                      "already": False}
    assert rows(db, "SELECT version FROM model_versions WHERE status = 'champion'") == [(other,)]
    (message,), = rows(db, "SELECT message FROM events WHERE kind = 'model_promoted' ORDER BY id DESC LIMIT 1")
    assert message == f"{other} promoted by the API (127.0.0.1)"
    status, body = post(served, f"/api/v1/control/promote/{other}", token=TOKEN)  # again: nothing to do, and said
    assert status == 202 and body["already"] is True and body["previous"] == other


def test_the_token_is_nowhere_but_in_the_environment(served: str, run_with_position: Path) -> None:
    assert post(served, "/api/v1/control/pause", token=TOKEN)[0] == 202
    assert post(served, "/api/v1/control/pause", token=TOKEN[:-1])[0] == 401
    db = run_with_position / "bot.sqlite"
    stored = rows(db, "SELECT key || value FROM run_meta") + rows(db, "SELECT message || COALESCE(data_json, '') "
                                                                      "FROM events")
    assert stored and not any(TOKEN in text or TOKEN[:-1] in text for (text,) in stored)
    for log in run_with_position.glob("serve-*.txt"):
        assert TOKEN[:-1] not in log.read_text()
    assert TOKEN[:-1] not in (run_with_position / "bot.jsonl").read_text()


def test_the_cli_takes_the_same_path(tmp_path: Path) -> None:
    """`bot flatten` and `bot pause` make the requests the API makes; the
    run acts on them at its next bar, naming the CLI as their origin."""
    config = write_config(tmp_path, ALWAYS_LONG)
    replay(config, max_bars=900)
    db = tmp_path / "bot.sqlite"
    assert rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")[0][0] > 0
    done = subprocess.run([sys.executable, "-m", "bot", "flatten", "-c", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    replay(config, max_bars=2)
    assert rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")[0][0] == 0
    assert halt(db) == (True, "flattened by the operator (`bot flatten`)")
    subprocess.run([sys.executable, "-m", "bot", "resume", "-c", str(config)], cwd=REPO, check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "bot", "pause", "-c", str(config)], cwd=REPO, check=True, timeout=120)
    replay(config, max_bars=2)
    assert halt(db) == (True, "paused by the operator (`bot pause`)")


def test_a_resume_made_after_a_pending_flatten_or_pause_cancels_it(tmp_path: Path) -> None:
    """With no daemon running, `bot flatten` then `bot resume`: the resume
    found nothing to clear, and the next start flattened and halted anyway.
    A resume now cancels the pause and flatten requests made before it that
    no daemon acted on; `bot status` shows those still waiting."""
    config = write_config(tmp_path, ALWAYS_LONG)
    replay(config, max_bars=900)
    db = tmp_path / "bot.sqlite"
    (qty,), = rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1")
    assert qty > 0

    def bot(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "bot", *args, "-c", str(config)], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    bot("flatten")
    bot("pause")
    waiting = bot("status").stdout
    assert "pause (from `bot pause`), flatten (from `bot flatten`): at the daemon's next bar" in waiting
    said = " ".join(bot("resume").stderr.split())  # it used to say "not halted; nothing to clear"
    assert said == ("cancelled before the daemon acted on it: pause (from `bot pause`), flatten (from `bot flatten`); "
                    "open positions stay open"), said
    assert "Requested" not in bot("status").stdout
    replay(config, max_bars=2)
    assert rows(db, "SELECT qty FROM positions ORDER BY ts DESC LIMIT 1") == [(qty,)]  # nothing was closed
    assert halt(db) == (False, None)
    cancelled = [kind for (kind,) in rows(db, "SELECT kind FROM events WHERE kind LIKE '%_cancelled' ORDER BY id")]
    assert cancelled == ["pause_cancelled", "flatten_cancelled"]
    bot("pause")  # a request made after the resume is carried out
    replay(config, max_bars=2)
    assert halt(db) == (True, "paused by the operator (`bot pause`)")


def test_an_unknown_version_is_echoed_briefly(served: str) -> None:
    status, body = post(served, "/api/v1/control/promote/v" + "9" * 10_000, token=TOKEN)
    assert status == 404
    assert body["detail"].startswith("no model version v999") and "(9,921 more characters)" in body["detail"]
    assert len(body["detail"]) < 200


def test_a_control_while_another_process_holds_the_database_is_a_503_to_retry(served: str,
                                                                             run_with_position: Path) -> None:
    holder = sqlite3.connect(run_with_position / "bot.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        request = urllib.request.Request(served + "/api/v1/control/pause", method="POST", data=b"",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "5"
        assert json.loads(refused.value.read()) == {
            "detail": "the run's database is busy (another process holds it); try again"}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert post(served, "/api/v1/control/pause", token=TOKEN)[0] == 202  # free again: taken


def test_promoting_a_version_whose_files_are_damaged_is_a_409_not_a_500(served: str,
                                                                        run_with_position: Path) -> None:
    db = run_with_position / "bot.sqlite"
    (champion,), = rows(db, "SELECT version FROM model_versions WHERE status = 'champion'")
    other = next(v for (v,) in rows(db, "SELECT version FROM model_versions") if v != champion)
    config = run_with_position / "models" / other / "config.json"
    saved = config.read_bytes()
    config.unlink()
    try:
        status, body = post(served, f"/api/v1/control/promote/{other}", token=TOKEN)
    finally:
        config.write_bytes(saved)
    assert status == 409 and body["detail"].startswith(f"{other} cannot be loaded: ") and "missing" in body["detail"]
    # Which file, not where the server keeps its files.
    assert str(run_with_position) not in body["detail"] and f"…/{other}/config.json" in body["detail"], body
    assert rows(db, "SELECT version FROM model_versions WHERE status = 'champion'") == [(champion,)]


def test_a_risk_state_that_cannot_be_read_is_a_503_with_the_reason(tiny_run: Path, tmp_path: Path) -> None:
    """Status, summary, the dashboard and resume answered a bare 500, with a
    traceback on the server's console, where `bot status` prints one line."""
    from test_serve import served_copy

    run = served_copy(tiny_run, tmp_path)
    with sqlite3.connect(run / "bot.sqlite") as conn:
        conn.execute("UPDATE run_meta SET value = '{oops' WHERE key = 'risk_state'")
    server, base = serve(run, TOKEN)
    try:
        answers = {path: get(base, path) for path in ("/api/v1/status", "/api/v1/summary", "/api/v1/dashboard")}
        answers["resume"] = post(base, "/api/v1/control/resume", token=TOKEN)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for path, (status, body) in answers.items():
        assert status == 503, (path, body)
        assert body["detail"].startswith("storage.db_url: the run's risk state (run_meta.risk_state) cannot be read")
    assert "Traceback" not in "".join(p.read_text() for p in run.glob("serve-*.txt"))


def test_a_resume_while_a_command_that_is_no_daemon_holds_the_run_is_a_409_naming_it(
    served: str, run_with_position: Path
) -> None:
    """It answered 202 "at the daemon's next bar" with no daemon to act."""
    from bot.writer_lease import take_lease

    training = take_lease(f"sqlite:///{run_with_position / 'bot.sqlite'}", "bot train", 0)
    try:
        status, body = post(served, "/api/v1/control/resume", token=TOKEN)
    finally:
        training.release()
    assert status == 409 and "in use by bot train" in body["detail"], body
    assert str(run_with_position) not in body["detail"]  # the directories are not the client's business
