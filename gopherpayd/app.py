"""The FastAPI application."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.types import Scope

from gopherpayd import __version__
from gopherpayd.admin.endpoints import router as admin_router
from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.events.endpoints import router as events_router
from gopherpayd.events.metrics import EventsCollector
from gopherpayd.events.wakeups import PostgresListener, StreamHub
from gopherpayd.fx import service as fx_service
from gopherpayd.fx.endpoints import router as fx_router
from gopherpayd.identity.endpoints import router as identity_router
from gopherpayd.identity.token_endpoints import router as tokens_router
from gopherpayd.kit.context import AppContext, Context
from gopherpayd.kit.db import Database
from gopherpayd.kit.errors import Forbidden, NotFound, install_error_handlers
from gopherpayd.kit.http import RequestGuard, RequestLog
from gopherpayd.kit.metrics import Scrape
from gopherpayd.kit.openapi import document_problems
from gopherpayd.notifications.endpoints import router as notifications_router
from gopherpayd.notifications.wiring import make_handler
from gopherpayd.settings import Settings
from gopherpayd.transfers.endpoints import router as transfers_router
from gopherpayd.transfers.hold_endpoints import router as holds_router
from gopherpayd.transfers.sweeper import HoldSweeper
from gopherpayd.wallets.endpoints import router as wallets_router

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH_BODY_BYTES = 2 * 1024 * 1024
"""POST /v1/transfers/batch: room for 1000 items of the largest size (a 200-character key,
a 254-character email, a 280-character memo of 4-byte UTF-8 characters: about 1.7 KB each)."""
logger = logging.getLogger("gopherpayd")
ERRORS_FROM_BELOW = {
    "admin": ("transfers", "fx", "wallets", "identity"),
    "transfers": ("wallets", "identity"),
    "fx": ("wallets", "identity"),
    "wallets": ("identity",),
    "events": ("notifications",),
    "notifications": ("events",),
}
"""For /openapi.json: whose refusals a route of each package (its tag) can pass on: the
domains below it in the layer order (pyproject.toml's import contract)."""


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    database = db or Database(settings.effective_database_url)

    hub = StreamHub()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _set_rates_from_file(settings, database)
        background = _start_background_work(settings, database, hub)
        restore_signals = _end_streams_on_shutdown_signals(hub)
        yield
        restore_signals()
        hub.stop()
        for worker in background:
            worker.stop()
        if db is None:
            database.dispose()

    app = FastAPI(
        title="GopherPay",
        version=__version__,
        description="Wallets in several currencies and all-or-nothing transfers. Money is "
        "always an integer amount of the currency's minor unit next to its ISO 4217 code.",
        lifespan=lifespan,
    )
    app.state.context = AppContext(settings=settings, db=database)
    app.state.stream_hub = hub
    install_error_handlers(app)

    app.add_middleware(
        RequestGuard,
        max_body_bytes=MAX_BODY_BYTES,
        body_timeout=settings.http_body_timeout,
        larger_bodies={"/v1/transfers/batch": MAX_BATCH_BODY_BYTES},
    )
    # Added last, so outermost: refusals of the guard above get a request id and a log line too.
    app.add_middleware(RequestLog, route_of=_route_template)
    scrape = Scrape([EventsCollector(database, settings)])

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"},
            403: {"description": "The client's address is not in GOPHERPAY_METRICS_ALLOW"},
            404: {"description": "GOPHERPAY_METRICS_ALLOW is empty: metrics are off"},
        },
    )
    def metrics(request: Request) -> Response:
        """Prometheus metrics, for the addresses in GOPHERPAY_METRICS_ALLOW (default: loopback)."""
        _check_scraper(settings, request)
        return Response(scrape.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=None,
        responses={
            503: {
                "description": "The database does not answer",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "status": {"const": "unavailable"},
                                "database": {"const": "unreachable"},
                            },
                            "required": ["status", "database"],
                        }
                    }
                },
            }
        },
    )
    def readyz(context: Context) -> dict[str, str] | JSONResponse:
        """The database answers."""
        try:
            with context.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            logger.warning("readiness check failed: %s", type(error).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return {"status": "ok", "database": "ok"}

    routers = (
        identity_router,
        tokens_router,
        wallets_router,
        transfers_router,
        fx_router,
        holds_router,
        notifications_router,
        events_router,
        admin_router,
    )
    for router in routers:
        app.include_router(router)
    document_problems(app, ERRORS_FROM_BELOW, authentication="identity")
    return app


def _set_rates_from_file(settings: Settings, db: Database) -> None:
    """GOPHERPAY_FX_RATES_FILE: its rates, set before the first request (RatesFileError, and
    no start, when it cannot be read)."""
    path = settings.fx_rates_file
    if path is None:
        return
    pairs = fx_service.read_rates_file(path)
    changed = db.run(fx_service.load_rates_file, pairs, path)
    logger.info("rates file %s: %d pairs, %d set now", path, len(pairs), changed)


def _route_template(scope: Scope) -> str | None:
    """The matched route's template (`/v1/transfers/{transfer_id}`), which the router put in
    the scope; None when no route matched."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None


def _check_scraper(settings: Settings, request: Request) -> None:
    """The TCP peer must be in GOPHERPAY_METRICS_ALLOW, and not a trusted proxy relaying someone
    else (a reverse proxy on loopback would otherwise open /metrics to the world)."""
    if not settings.metrics_networks:
        raise NotFound("metrics are off (GOPHERPAY_METRICS_ALLOW is empty)")
    host = request.client.host if request.client else ""
    try:
        peer = ipaddress.ip_address(host)
    except ValueError:
        raise Forbidden("metrics are only served to the addresses in GOPHERPAY_METRICS_ALLOW") from None
    relayed = "x-forwarded-for" in request.headers and any(
        peer in network for network in settings.trusted_proxy_networks
    )
    if relayed or not any(peer in network for network in settings.metrics_networks):
        raise Forbidden("metrics are only served to the addresses in GOPHERPAY_METRICS_ALLOW")


def _start_background_work(
    settings: Settings, db: Database, hub: StreamHub
) -> list[PostgresListener | InProcessDispatcher | HoldSweeper]:
    """Live-stream wake-ups from other daemons (Postgres), the hold sweeper and, without Kafka,
    event delivery."""
    started: list[PostgresListener | InProcessDispatcher | HoldSweeper] = []
    sweeper = HoldSweeper(db, settings)
    sweeper.start()
    started.append(sweeper)
    if not db.is_sqlite:
        listener = PostgresListener(db.url, hub)
        listener.start()
        started.append(listener)
    if not settings.uses_kafka and settings.deliver_events_in_process:
        dispatcher = InProcessDispatcher(db, settings, make_handler(db, settings))
        dispatcher.start()
        started.append(dispatcher)
    return started


ShutdownSignalHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def _end_streams_on_shutdown_signals(hub: StreamHub) -> Callable[[], None]:
    """Make SIGTERM and SIGINT end every open stream, then do what they did before.

    uvicorn's graceful shutdown waits for open responses to finish and only then runs
    the lifespan's shutdown, so a stream that is told nothing would hold the daemon up
    until the graceful timeout cuts it. The handler only schedules the stop on the loop:
    a signal handler must not take the hub's lock, which the loop may be holding.
    Outside the main thread (an app under test) signals are not ours to handle.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, ShutdownSignalHandler] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.stop)
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, handle)

    def restore() -> None:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)

    return restore
