"""`bot serve` started for real on a free 127.0.0.1 port over the database
of a tiny replay: every endpoint answers, its figures equal `bot report
--json` and the ledger, health tells a run that stopped stepping, and
/metrics parses with prometheus-client's own parser."""

from __future__ import annotations

import errno
import http.client
import json
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import REPO, rows, wait_until, write_config
from prometheus_client.parser import text_string_to_metric_families

from bot.report.run_charts import buy_and_hold_curve
from bot.store import Store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base: str, path: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as reply:
            body = reply.read().decode()
            status = reply.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(), error.code
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body


def pinged(base: str) -> Callable[[], bool]:
    """A wait_until condition: the server at `base` answers its ping."""

    def answers() -> bool:
        try:
            return get(base, "/api/v1/ping")[0] == 200
        except OSError:
            return False

    return answers


@contextmanager
def bot_serving(directory: Path) -> Iterator[str]:
    """`bot serve` over the run in `directory` on a free port; its base URL."""
    port = free_port()
    log = (directory / "serve.txt").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "-c", str(directory / "config.yaml"), "--port", str(port)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(pinged(base), timeout_s=120, what="bot serve to answer", process=server,
                   output=directory / "serve.txt")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def served(tiny_run: Path) -> Iterator[str]:
    with bot_serving(tiny_run) as base:
        yield base


def report_json(tiny_run: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "bot", "report", "--json", "-c", str(tiny_run / "config.yaml")],
                          cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(done.stdout)


def test_every_endpoint_answers_with_the_ledgers_figures(served: str, tiny_run: Path) -> None:
    db = tiny_run / "bot.sqlite"
    assert get(served, "/api/v1/ping") == (200, {"ping": "pong"})

    status, summary = get(served, "/api/v1/summary")
    assert status == 200 and summary == report_json(tiny_run)

    status, equity = get(served, "/api/v1/equity?limit=5")
    (count, newest_ts, newest_equity), = rows(db, "SELECT COUNT(*), MAX(ts), "
                                                  "(SELECT equity FROM equity ORDER BY ts DESC LIMIT 1) FROM equity")
    assert status == 200 and equity["total"] == count and len(equity["items"]) == 5
    assert equity["items"][0]["ts"] == newest_ts and equity["items"][0]["equity"] == newest_equity
    assert all(0 <= item["drawdown"] < 1 for item in equity["items"])
    store = Store(f"sqlite:///{db}")  # buy and hold as drawn from every bar stored
    try:
        held = buy_and_hold_curve(store.equity_frame(), store.bars_frame(), store.first_prediction_ts())
    finally:
        store.close()
    newest_first = [item["buy_and_hold"] for item in equity["items"]]
    assert newest_first == pytest.approx(list(held[::-1][:5]), rel=1e-12) and None not in newest_first

    status, fills = get(served, "/api/v1/fills?limit=3&offset=1")
    assert status == 200 and fills["total"] == rows(db, "SELECT COUNT(*) FROM fills")[0][0] > 0
    assert [f["id"] for f in fills["items"]] == [i for (i,) in rows(db, "SELECT id FROM fills ORDER BY id DESC")][1:4]

    status, trades = get(served, "/api/v1/trades?limit=1000")
    assert status == 200 and trades["total"] == summary["trades"] + summary["open_trades"]
    # Every fill belongs to one trip: the trips' PnL (fees included) is the ledger's realized PnL.
    realized = rows(db, "SELECT SUM(realized_pnl) FROM fills")[0][0]
    assert sum(t["pnl"] for t in trades["items"]) == pytest.approx(realized, abs=1e-6)
    # ...and their fees the ledger's fees; each trip's prices and reasons are its own fills' and orders'.
    assert sum(t["fees"] for t in trades["items"]) == pytest.approx(rows(db, "SELECT SUM(fee) FROM fills")[0][0])
    closed = [t for t in trades["items"] if t["exit_ts"] is not None]
    assert closed and all(t["direction"] == "long" and t["entry_reason"] == "entry" for t in trades["items"])
    reasons = {r for (r,) in rows(db, "SELECT DISTINCT o.reason FROM fills f JOIN orders o ON o.id = f.order_id "
                                      "WHERE f.side = 'sell'")}
    assert {t["exit_reason"] for t in closed} <= reasons and {t["exit_reason"] for t in closed}
    first = closed[-1]  # newest first: the oldest closed trip
    (buy_price,), = rows(db, f"SELECT price FROM fills WHERE symbol = '{first['symbol']}' AND side = 'buy' "
                             f"AND ts = {first['entry_ts']}")
    assert first["entry_price"] == pytest.approx(buy_price)
    assert first["return_pct"] == pytest.approx(first["pnl"] / (first["qty"] * first["entry_price"]))
    # An open trip is marked to the newest close: its realized PnL alone (the entry fee) read a
    # winning position as a small loss. Closed PnL plus the open trips' marked PnL is the equity's gain.
    still_open = [t for t in trades["items"] if t["exit_ts"] is None]
    newest_close = rows(db, "SELECT close FROM bars ORDER BY ts DESC LIMIT 1")[0][0]
    assert all(t["mark_price"] == newest_close and t["open_pnl"] is not None for t in still_open)
    assert all(t["mark_price"] is None and t["open_pnl"] is None for t in closed)
    (equity_now,), = rows(db, "SELECT equity FROM equity ORDER BY ts DESC LIMIT 1")
    gained = sum(t["pnl"] for t in closed) + sum(t["open_pnl"] for t in still_open)
    assert 10_000 + gained == pytest.approx(equity_now, abs=1e-6)

    status, orders = get(served, "/api/v1/orders?limit=2")
    assert status == 200 and orders["total"] == rows(db, "SELECT COUNT(*) FROM orders")[0][0]

    status, predictions = get(served, "/api/v1/predictions?symbol=BTC/USDT&limit=4")
    assert status == 200 and predictions["total"] == summary["predictions"]
    assert all(p["reason"] for p in predictions["items"])  # every decision says why

    status, models = get(served, "/api/v1/models")
    assert status == 200 and len(models["items"]) == summary["model_versions"]

    status, events = get(served, "/api/v1/events?kind=model_trained")
    assert status == 200 and events["total"] == rows(db, "SELECT COUNT(*) FROM events WHERE kind='model_trained'")[0][0]
    assert {e["kind"] for e in events["items"]} == {"model_trained"}

    status, state = get(served, "/api/v1/status")
    assert status == 200 and state["symbols"] == ["BTC/USDT"] and state["mode"] == "replay"
    assert state["champion"] == rows(db, "SELECT version FROM model_versions WHERE status='champion'")[0][0]


def test_health_is_503_with_the_reason_when_no_bar_came_for_two_timeframes(served: str) -> None:
    # The tiny replay ended in 2023: its newest bar is long stale.
    status, body = get(served, "/api/v1/health")
    assert status == 503 and body["healthy"] is False and "ago" in body["reason"]


def test_metrics_parse_with_prometheus_clients_own_parser(served: str, tiny_run: Path) -> None:
    status, text = get(served, "/metrics")
    assert status == 200 and isinstance(text, str)
    samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    newest_equity = rows(tiny_run / "bot.sqlite", "SELECT equity FROM equity ORDER BY ts DESC LIMIT 1")[0][0]
    assert samples["bot_equity"] == pytest.approx(newest_equity)
    assert samples["bot_bars_processed"] == rows(tiny_run / "bot.sqlite", "SELECT COUNT(*) FROM bars")[0][0]
    assert samples["bot_healthy"] == 0.0 and samples["bot_seconds_since_bar_close"] > 0
    versions = rows(tiny_run / "bot.sqlite", "SELECT metrics_json FROM model_versions ORDER BY created_ts")
    assert samples["bot_model_versions"] == len(versions)
    trained = [m["train_seconds"] for (text,) in versions if "train_seconds" in (m := json.loads(text))]
    assert samples["bot_last_retrain_seconds"] == pytest.approx(trained[-1])


def test_open_exposure_counts_a_short_as_exposure(tiny_run: Path, tmp_path: Path) -> None:
    """bot_open_exposure was the equity row's signed position value: a short
    read as negative exposure, a long beside a short of the same value as none."""
    from bot.config import load_config
    from bot.store import Store
    from bot.web.metrics import metrics_text

    run = served_copy(tiny_run, tmp_path)
    db = run / "bot.sqlite"
    (ts,), = rows(db, "SELECT MAX(ts) FROM equity")
    with sqlite3.connect(db) as conn:  # the newest step holds a long of 3,000 and a short of 4,000
        conn.execute("DELETE FROM positions WHERE ts = ?", (ts,))
        for symbol, qty, mark in (("BTC/USDT", 0.1, 30_000.0), ("ETH/USDT", -2.0, 2_000.0)):
            conn.execute("INSERT INTO positions (ts, symbol, qty, avg_entry, mark, realized_pnl) "
                         "VALUES (?, ?, ?, ?, ?, 0)", (ts, symbol, qty, mark, mark))
        conn.execute("UPDATE equity SET position_value = -1000 WHERE ts = ?", (ts,))
    store = Store(f"sqlite:///{db}", reader=True)
    try:
        text = metrics_text(store, load_config(run / "config.yaml"), ts)
    finally:
        store.close()
    samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples["bot_open_exposure"] == pytest.approx(7_000.0)
    assert samples["bot_net_exposure"] == pytest.approx(-1_000.0)


def test_a_bad_query_is_a_clear_422_not_a_traceback(served: str) -> None:
    status, body = get(served, "/api/v1/fills?limit=0")
    assert status == 422 and isinstance(body, dict) and "limit" in json.dumps(body)
    for level in ("WARNING", "warn", "bogus"):  # answered 200 with no event, as if there were none
        status, body = get(served, f"/api/v1/events?level={level}")
        assert status == 422 and "level" in json.dumps(body), (level, body)
    status, body = get(served, "/api/v1/events?level=warning")
    assert status == 200 and {e["level"] for e in body["items"]} <= {"warning"}


def test_open_orders_are_the_ones_the_ledger_holds_open(served: str, tiny_run: Path) -> None:
    status, body = get(served, "/api/v1/orders?open_only=true")
    held = rows(tiny_run / "bot.sqlite", "SELECT id FROM orders WHERE status IN "
                                         "('new', 'open', 'partially_filled', 'unknown')")
    assert status == 200 and sorted(o["id"] for o in body["items"]) == sorted(i for (i,) in held)
    assert body["total"] < rows(tiny_run / "bot.sqlite", "SELECT COUNT(*) FROM orders")[0][0]


def test_health_follows_the_newest_bar_close_against_the_clock(tiny_run: Path) -> None:
    """Healthy up to two timeframes plus the bar delay after the newest
    bar closed, not after: at the clock times around that edge."""
    from bot.config import load_config
    from bot.store import Store
    from bot.web.health import health

    cfg = load_config(tiny_run / "config.yaml")
    store = Store(cfg.db_url)
    try:
        closed = store.last_bar_ts("BTC/USDT") + cfg.timeframe_ms
        edge = closed + 2 * cfg.timeframe_ms + round(cfg.schedule.bar_delay_seconds * 1000)
        assert health(store, cfg, closed + 1_000).healthy
        assert health(store, cfg, edge).healthy
        late = health(store, cfg, edge + 1)
        assert not late.healthy and late.reason.startswith("BTC/USDT's newest bar closed 7205 s ago, more than")
    finally:
        store.close()


def run_with_api(directory: Path) -> tuple[subprocess.Popen, str, int]:
    """`bot run` with api.enabled on a free port, once its server answers:
    the run, the server's base URL and its port. Four months of bars with a
    retrain every ten days: long enough that the server answers while the
    run still steps, on any machine."""
    port = free_port()
    config = write_config(directory, {"api": {"enabled": True, "port": port}, "replay": {"end": "2023-05-01"}})
    run = subprocess.Popen([sys.executable, "-m", "bot", "run", "--no-progress", "-c", str(config)],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=(directory / "run.txt").open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(pinged(base), timeout_s=120, what="the run's bot serve to answer", process=run,
                   output=directory / "run.txt")
    except BaseException:
        run.kill()
        raise
    return run, base, port


def test_api_enabled_serves_beside_the_run_and_stops_with_it(tmp_path: Path) -> None:
    run, base, _ = run_with_api(tmp_path)
    try:
        status, body = get(base, "/api/v1/status")
        assert status == 200 and body["symbols"] == ["BTC/USDT"]
        assert run.wait(timeout=600) == 0
    finally:
        if run.poll() is None:
            run.kill()
    with pytest.raises(OSError):  # the server went with the run
        get(base, "/api/v1/ping")
    assert "bot serve started on" in (tmp_path / "run.txt").read_text()


def test_head_on_the_monitors_endpoints_answers_as_get_without_a_body(served: str) -> None:
    """Uptime monitors and load balancers often ask with HEAD (it was 405)."""
    for path in ("/api/v1/ping", "/api/v1/health", "/metrics", "/"):
        request = urllib.request.Request(served + path, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, body = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        assert status == get(served, path)[0] and body == b"", path


def test_no_page_loads_code_from_elsewhere_and_no_redirect_follows_the_host_header(served: str) -> None:
    """/docs and /redoc loaded Swagger and ReDoc from a CDN (blank offline,
    outside the page's CSP); /api/v1/ping/ redirected to an address built
    from the request's Host header."""
    assert get(served, "/docs")[0] == 404 and get(served, "/redoc")[0] == 404
    status, spec = get(served, "/openapi.json")
    assert status == 200 and "/api/v1/ping" in spec["paths"]
    host, port = served.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", "/api/v1/ping/", headers={"Host": f"localhost:{port}"})
    reply = connection.getresponse()
    assert reply.status == 404 and reply.getheader("location") is None
    connection.close()


def ask_as(base: str, path: str, host_header: str) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host_header})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_a_server_on_loopback_answers_only_to_loopback_names(served: str) -> None:
    """A page the operator visited could read the run through the browser:
    a name of its own pointed at 127.0.0.1 (DNS rebinding) was answered."""
    port = served.rsplit(":", 1)[1]
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert ask_as(served, "/api/v1/summary", name)[0] == 200, name
    for name in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}", ""):
        for path in ("/api/v1/summary", "/", "/metrics"):
            status, body = ask_as(served, path, name)
            assert status == 421 and b"equity" not in body, (name, path)


def test_the_openapi_spec_names_each_operation_once(served: str) -> None:
    """GET and HEAD on one path had one operationId twice: client generators refuse that."""
    _, spec = get(served, "/openapi.json")
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert ids and len(ids) == len(set(ids))
    assert "get" in spec["paths"]["/api/v1/health"] and "head" not in spec["paths"]["/api/v1/health"]


def test_a_port_in_use_is_one_line_and_serving_is_never_said(tiny_run: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bot", "serve", "-c", str(tiny_run / "config.yaml"), "--port", str(port)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port"
    ], done.stderr
    assert "serving" not in done.stdout


def foreign_address() -> str:
    """A documentation address this machine does not have (some sandboxes
    give themselves one of these ranges)."""
    for address in ("198.51.100.7", "203.0.113.7", "192.0.2.254"):
        with socket.socket() as probe:
            try:
                probe.bind((address, 0))
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    return address
    raise AssertionError("every candidate address is this machine's")


def test_an_address_this_machine_lacks_is_blamed_on_the_host_not_the_port(tiny_run: Path, tmp_path: Path) -> None:
    """It said "choose another --port" (and api.port) for a --host that was
    no address of this machine."""
    host = foreign_address()
    serve = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "-c", str(tiny_run / "config.yaml"), "--host", host, "--port", "18599"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert serve.returncode == 1
    assert serve.stderr.strip().splitlines() == [f"error: --host {host}: Cannot assign requested address"], serve.stderr
    config = write_config(tmp_path, {"api": {"enabled": True, "host": host, "port": 18599}})
    run = subprocess.run([sys.executable, "-m", "bot", "run", "-c", str(config), "--no-progress"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"config error: api.host: {host}: Cannot assign requested address"], \
        run.stderr


def test_bot_run_with_its_api_port_in_use_is_refused_before_it_starts(tmp_path: Path) -> None:
    """It said "bot serve started", its server then failed alone, and the
    run went on without the API it was configured with, exit 0."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, {"api": {"enabled": True, "port": port}})
        done = subprocess.run([sys.executable, "-m", "bot", "run", "-c", str(config), "--no-progress"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"config error: api.port: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another api.port or stop what listens there"
    ]
    assert not (tmp_path / "bot.sqlite").exists()


def test_the_runs_server_goes_when_the_run_is_killed(tmp_path: Path) -> None:
    """It outlived a SIGKILLed run (its parent then init), kept api.port,
    and every restart was refused with "api.port: ... in use"."""
    run, _, port = run_with_api(tmp_path)
    run.kill()
    run.wait(timeout=30)

    def port_free() -> bool:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a restart binds it
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    # A generous bound for a loaded machine; the server looks for its parent every second.
    wait_until(port_free, timeout_s=60, what="the orphaned server to let go of api.port")


def test_the_run_hands_its_server_the_port_it_bound_at_start(tiny_run: Path, tmp_path: Path) -> None:
    """bot run bound api.port to check it and let go; whoever took the port
    while the run opened its state left the run without its API, after
    "bot serve started". Now the bound socket is handed down: the server
    answers on it even where --port names a port someone else holds."""
    from bot.cli.serve import listening_socket

    handed = listening_socket("127.0.0.1", 0)
    port = handed.getsockname()[1]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        log = (tmp_path / "serve.txt").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "-c", str(tiny_run / "config.yaml"),
             "--port", str(taken.getsockname()[1]), "--socket-fd", str(handed.fileno())],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, pass_fds=[handed.fileno()],
        )
        handed.close()  # as bot run does: the server holds the only copy
        try:
            wait_until(pinged(f"http://127.0.0.1:{port}"), timeout_s=120, what="bot serve on the handed socket",
                       process=server, output=tmp_path / "serve.txt")
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def test_a_bad_query_is_answered_briefly_and_an_unknown_symbol_is_refused(served: str) -> None:
    status, body = get(served, "/api/v1/fills?limit=" + "a" * 100_000)
    assert status == 422 and len(json.dumps(body)) < 2_000  # the 100 KB value was echoed whole
    assert body["detail"][0]["loc"] == ["query", "limit"] and "(99,920 more characters)" in body["detail"][0]["input"]
    status, body = get(served, "/api/v1/predictions?symbol=ETH/USDT")
    assert status == 400 and body["detail"] == "symbol: 'ETH/USDT' is not among the run's symbols (BTC/USDT)"


def test_an_unknown_event_kind_is_refused_with_the_nearest_one(served: str, tiny_run: Path) -> None:
    """A misspelt kind answered 200 with no events: a monitor polling for a
    kill switch would never have seen one."""
    status, body = get(served, "/api/v1/events?kind=kill_swich")
    assert status == 400 and body["detail"] == "kind: 'kill_swich' is no event kind (did you mean 'kill_switch'?)"
    status, body = get(served, "/api/v1/events?kind=" + "x" * 1_000)
    assert status == 400 and len(body["detail"]) < 300 and "(920 more characters)" in body["detail"]
    status, body = get(served, "/api/v1/events?kind=kill_switch")
    held = rows(tiny_run / "bot.sqlite", "SELECT COUNT(*) FROM events WHERE kind = 'kill_switch'")[0][0]
    assert status == 200 and body["total"] == held


def served_copy(tiny_run: Path, directory: Path) -> Path:
    """A run of its own to break: the tiny run's database under a config here."""
    write_config(directory)
    with sqlite3.connect(tiny_run / "bot.sqlite") as source, sqlite3.connect(directory / "bot.sqlite") as copy:
        source.backup(copy)
    return directory


def test_a_database_damaged_under_the_server_is_a_503_on_every_endpoint(tiny_run: Path, tmp_path: Path) -> None:
    """Reads made through pandas raised its own DatabaseError, which no
    handler knew: a bare 500 and a traceback on the server's console."""
    run = served_copy(tiny_run, tmp_path)
    paths = ("/api/v1/events", "/api/v1/predictions", "/api/v1/fills", "/api/v1/orders", "/api/v1/trades",
             "/api/v1/equity", "/api/v1/status", "/api/v1/summary", "/api/v1/dashboard")
    with bot_serving(run) as base:  # nothing read yet: no page of the file in a connection's cache
        size = (run / "bot.sqlite").stat().st_size
        with (run / "bot.sqlite").open("r+b") as db:
            db.seek(size // 3)
            db.write(b"\xff" * (size // 3))
        answers = {path: get(base, path) for path in paths}
    assert not [path for path, (status, _) in answers.items() if status not in (200, 503)], answers
    broken = [body for status, body in answers.values() if status == 503]
    assert broken and all("the run's database cannot be read" in body["detail"] for body in broken)
    assert "Traceback" not in (run / "serve.txt").read_text()


def test_a_database_removed_or_replaced_under_the_server_is_a_503_that_says_so(tiny_run: Path,
                                                                              tmp_path: Path) -> None:
    """As `bot run --fresh` does to a run a server reads: answers from the
    unlinked file, or an empty database made in its place, would mislead."""
    run = served_copy(tiny_run, tmp_path)
    with bot_serving(run) as base:
        assert get(base, "/api/v1/status")[0] == 200
        (run / "bot.sqlite").rename(run / "moved.sqlite")
        for path in ("/api/v1/status", "/api/v1/summary", "/api/v1/dashboard"):
            status, body = get(base, path)
            assert status == 503 and body["detail"].endswith(
                "was removed or replaced since bot serve started; restart bot serve"), (path, body)
        status, body = get(base, "/api/v1/health")
        assert status == 503 and body["healthy"] is False and "removed or replaced" in body["reason"]
        # The health check answers anyone: it names the file, not where the server keeps it.
        assert str(run) not in body["reason"] and f"…/{run.name}/bot.sqlite" in body["reason"], body
        status, text = get(base, "/metrics")
        assert status == 503 and "removed or replaced" in text["detail"]
        assert not (run / "bot.sqlite").exists()  # no empty database made in its place
        (run / "moved.sqlite").rename(run / "bot.sqlite")  # the same file back: served again
        assert get(base, "/api/v1/status")[0] == 200
