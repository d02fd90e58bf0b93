"""The JSON API under /api/v1 and the Prometheus text at /metrics, read
from the run's store. Every figure comes from the same store methods and
report functions the CLI uses, so the API and `bot report --json` agree.

Controls (pause, resume, flatten, promote) are POSTs under
/api/v1/control, refused (401) without the bearer token held in the
environment variable BOT_API_TOKEN of the `bot serve` process, compared in
constant time; without that variable every control is refused. Each goes
through the same operator-request path as the CLI
(bot/app/operator_requests.py) and takes effect at the daemon's next bar.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DatabaseError

from bot.brief_text import brief, hide_directories
from bot.config import Config, ConfigError
from bot.domain import OrderStatus
from bot.error_text import first_line
from bot.event_kinds import EVENT_KINDS, unknown_name
from bot.json_values import clean
from bot.report.run_charts import buy_and_hold_curve
from bot.report.summary import build_summary
from bot.report.trade_list import marks_of, trade_list
from bot.secrets import API_TOKEN_ENV, api_token, scrub
from bot.store import Store, sqlite_path
from bot.web.dashboard_data import dashboard_payload
from bot.web.health import health
from bot.web.host_check import LoopbackHostsOnly
from bot.web.metrics import metrics_text
from bot.web.page import CONTENT_SECURITY_POLICY, STATIC_FILES, live_page, static_text
from bot.web.run_status import run_status
from bot.writer_lease import LeaseHeld

PAGE = Annotated[int, Query(ge=1, le=10_000)]
OFFSET = Annotated[int, Query(ge=0)]


def records(frame: pd.DataFrame, offset: int, limit: int, newest_first: bool = True) -> dict:
    """A page of a table's rows, newest first by default, with the total."""
    rows = frame.iloc[::-1] if newest_first else frame
    page = rows.iloc[offset : offset + limit]
    return {"total": len(frame), "offset": offset, "items": clean(page.to_dict(orient="records"))}


def make_app(
    store: Store, cfg: Config, now_ms: Callable[[], int] | None = None, loopback_only: bool = False
) -> FastAPI:
    """`loopback_only`: served on a loopback address, so answer only requests
    addressed to a loopback name (bot/web/host_check.py)."""
    clock = now_ms or (lambda: int(time.time() * 1000))
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN,
    # blank on an offline host and outside the page's CSP; /openapi.json
    # describes the API. No slash redirects: their Location echoed the
    # client's Host header (an open redirect through the bot's own address).
    app = FastAPI(
        title="LSTM paper-trading bot",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        redirect_slashes=False,
    )
    _add_error_answers(app, cfg)
    if loopback_only:
        app.add_middleware(LoopbackHostsOnly)

    @get_and_head(app, "/api/v1/ping")
    def ping() -> dict:
        return {"ping": "pong"}

    @get_and_head(app, "/api/v1/health")
    def get_health() -> JSONResponse:
        state = health(store, cfg, clock())
        return JSONResponse(asdict(state), status_code=200 if state.healthy else 503)

    @app.get("/api/v1/status")
    def status() -> dict:
        return clean(run_status(store, cfg))

    @app.get("/api/v1/equity")
    def equity(limit: PAGE = 1000, offset: OFFSET = 0) -> dict:
        frame = store.equity_frame()
        if len(frame):
            frame["drawdown"] = 1 - frame.equity / frame.equity.cummax()
            first = store.first_prediction_ts()
            closes = store.closes_since(first) if first is not None else pd.DataFrame()
            frame["buy_and_hold"] = buy_and_hold_curve(frame, closes, first)
        return records(frame, offset, limit)

    @app.get("/api/v1/trades")
    def trades(limit: PAGE = 100, offset: OFFSET = 0) -> dict:
        trips = pd.DataFrame(
            [
                asdict(t)
                for t in trade_list(
                    store.fills_frame(), store.orders_frame(), cfg.timeframe_ms, marks_of(store.latest_positions())
                )
            ]
        )
        return records(trips, offset, limit)

    @app.get("/api/v1/fills")
    def fills(limit: PAGE = 100, offset: OFFSET = 0) -> dict:
        return records(store.fills_frame(), offset, limit)

    @app.get("/api/v1/orders")
    def orders(open_only: bool = False, limit: PAGE = 100, offset: OFFSET = 0) -> dict:
        frame = store.orders_frame()
        if open_only:
            frame = frame[frame.status.isin([s.value for s in OrderStatus if s.is_open])]
        return records(frame, offset, limit)

    @app.get("/api/v1/predictions")
    def predictions(symbol: str | None = None, limit: PAGE = 100, offset: OFFSET = 0) -> dict:
        if symbol is not None and symbol not in cfg.symbols:
            raise HTTPException(
                400, f"symbol: {brief(symbol)!r} is not among the run's symbols ({', '.join(cfg.symbols)})"
            )
        frame = store.predictions_frame()
        if symbol is not None:
            frame = frame[frame.symbol == symbol]
        return records(frame, offset, limit)

    @app.get("/api/v1/models")
    def models() -> dict:
        return {"items": clean([asdict(v) for v in store.model_versions()])}

    @app.get("/api/v1/events")
    def events(
        # A level the events never have (WARNING, warn) matched nothing, with
        # 200: a monitor polling for errors would never have seen one.
        level: Literal["info", "warning", "error"] | None = None,
        kind: str | None = None,
        limit: PAGE = 100,
        offset: OFFSET = 0,
    ) -> dict:
        # A misspelt kind likewise (kill_swich): refused, with the nearest kind.
        problem = None if kind is None else unknown_name(kind, EVENT_KINDS, shown=repr(brief(kind)))
        if problem:
            raise HTTPException(400, f"kind: {problem}")
        frame = store.events_frame()
        if level is not None:
            frame = frame[frame.level == level]
        if kind is not None:
            frame = frame[frame.kind == kind]
        return records(frame, offset, limit)

    @app.get("/api/v1/summary")
    def summary() -> dict:
        return clean(build_summary(store, cfg))

    @app.get("/api/v1/dashboard")
    def dashboard() -> dict:
        """Everything the dashboard at / draws, in one object."""
        return clean(dashboard_payload(store, cfg, clock()))

    _add_controls(app, store, cfg)
    _add_page(app)

    @get_and_head(app, "/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(metrics_text(store, cfg, clock()), media_type="text/plain; version=0.0.4")

    return app


def get_and_head(app: FastAPI, path: str, **options: Any) -> Callable:
    """GET, and HEAD as well: uptime monitors and load balancers often ask
    with HEAD. HEAD is left out of the OpenAPI spec, where the two had one
    operationId twice (client generators refuse that)."""

    def register(endpoint: Callable) -> Callable:
        app.add_api_route(path, endpoint, methods=["GET"], **options)
        app.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, **options)
        return endpoint

    return register


def _add_page(app: FastAPI) -> None:
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(live_page(), headers=headers)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        cached = {**headers, "Cache-Control": "max-age=3600"}
        return Response(static_text(name), media_type=STATIC_FILES[name], headers=cached)


def _add_error_answers(app: FastAPI, cfg: Config) -> None:
    """Faults of the request or of the database, each a short answer: never
    a bare 500, never the input echoed whole."""
    db = sqlite_path(cfg.db_url)
    opened = _identity(db) if db is not None else None

    @app.middleware("http")
    async def same_database(request: Request, call_next):
        # A run's file removed (`bot run --fresh`) or replaced while serving:
        # reads would come from the unlinked file, controls would go where no
        # daemon reads, and a new connection would make an empty database.
        if db is not None and request.url.path.startswith(("/api/", "/metrics")) and _identity(db) != opened:
            reason = (
                f"the run's database {hide_directories(str(db))} was removed or replaced since bot serve started; "
                "restart bot serve"
            )
            return _unavailable(request, reason)
        return await call_next(request)

    @app.exception_handler(DatabaseError)
    async def database_fault(request: Request, exc: DatabaseError) -> JSONResponse:
        cause = first_line(exc)
        if "locked" in cause or "busy" in cause:
            return _unavailable(request, "the run's database is busy (another process holds it); try again", retry=5)
        # A driver's text may quote the connection URL's password.
        return _unavailable(request, f"the run's database cannot be read: {brief(scrub(cause))}")

    @app.exception_handler(ConfigError)
    async def damaged_state(request: Request, exc: ConfigError) -> JSONResponse:
        # The run's stored state cannot be read (its risk state damaged, or
        # written by a newer version): the line `bot status` prints, as a 503.
        return _unavailable(request, brief(hide_directories(scrub(first_line(exc)))))

    @app.exception_handler(LeaseHeld)
    async def run_held(request: Request, exc: LeaseHeld) -> JSONResponse:
        # Another command holds the run (a `bot train`, not a daemon): it
        # says who, as `bot resume` does; try again once it has ended.
        return JSONResponse({"detail": brief(hide_directories(scrub(str(exc))), 300)}, 409)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{**e, "input": brief(str(e["input"]))} if "input" in e else e for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, 422)


def _identity(path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _unavailable(request: Request, reason: str, retry: int | None = None) -> JSONResponse:
    """503 with the reason; health answers in its own shape, for monitors."""
    body = {"healthy": False, "reason": reason} if request.url.path == "/api/v1/health" else {"detail": reason}
    return JSONResponse(body, 503, headers={"Retry-After": str(retry)} if retry else None)


def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
    """The bearer token of BOT_API_TOKEN, compared in constant time."""
    expected = api_token()
    scheme, _, given = (authorization or "").partition(" ")
    if not expected:
        raise HTTPException(401, f"controls are off: bot serve was started without {API_TOKEN_ENV}")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})


def _add_controls(app: FastAPI, store: Store, cfg: Config) -> None:
    from bot.app import operator_requests as requests

    guarded = [Depends(require_token)]

    def origin(request: Request) -> str:
        return f"the API ({request.client.host if request.client else 'unknown client'})"

    def accepted(what: str, **details: Any) -> JSONResponse:
        return JSONResponse({"accepted": what, "takes_effect": "at the daemon's next bar", **details}, 202)

    @app.post("/api/v1/control/pause", dependencies=guarded)
    def pause(request: Request) -> JSONResponse:
        """No new entries until resumed; open positions keep their stops."""
        return accepted("pause", request_number=requests.request(store, requests.PAUSE_KEY, origin(request)))

    @app.post("/api/v1/control/resume", dependencies=guarded)
    def resume(request: Request) -> JSONResponse:
        """Clear a halt (kill switch, pause, flatten), as `bot resume` does."""
        resumed = requests.request_resume(store, cfg, origin(request))
        if not resumed.now:  # a daemon holds the run: it clears the halt
            body = {"accepted": "resume", "takes_effect": resumed.when, "was_halted": resumed.was_halted}
            return JSONResponse({**body, "cancelled": resumed.cancelled}, 202)
        # No daemon: the halt is cleared already, as `bot resume` says ("halt
        # cleared"); the reply said "at the daemon's next bar" either way.
        body = {"accepted": "resume", "takes_effect": "now", "was_halted": resumed.was_halted}
        return JSONResponse({**body, "cancelled": resumed.cancelled}, 200)

    @app.post("/api/v1/control/flatten", dependencies=guarded)
    def flatten(request: Request) -> JSONResponse:
        """Halt entries and close every position at the next bar's open."""
        return accepted("flatten", request_number=requests.request(store, requests.FLATTEN_KEY, origin(request)))

    @app.post("/api/v1/control/promote/{version}", dependencies=guarded)
    def promote(version: str, request: Request) -> JSONResponse:
        """Make a registered version the champion, as `bot models promote` does."""
        from bot.model.registry import ModelFileError

        try:
            done = requests.promote_version(store, cfg.path(cfg.storage.models_dir), version, origin(request))
        except KeyError:
            raise HTTPException(404, f"no model version {brief(version)}") from None
        except (OSError, ValueError, ModelFileError) as exc:  # its files missing or damaged
            raise HTTPException(409, f"{version} cannot be loaded: {brief(hide_directories(str(exc)), 300)}") from None
        except ConfigError as exc:  # the models directory is another run's
            raise HTTPException(409, brief(hide_directories(str(exc)), 300)) from None
        return accepted(
            "promote", version=version, previous=done.previous, gate_rejected=done.gate_rejected, already=done.already
        )
