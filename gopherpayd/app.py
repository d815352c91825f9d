"""The FastAPI application."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from gopherpayd import __version__
from gopherpayd.admin.endpoints import router as admin_router
from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.events.endpoints import router as events_router
from gopherpayd.events.wakeups import PostgresListener, StreamHub
from gopherpayd.identity.endpoints import router as identity_router
from gopherpayd.identity.token_endpoints import router as tokens_router
from gopherpayd.kit.context import AppContext, Context
from gopherpayd.kit.db import Database
from gopherpayd.kit.errors import install_error_handlers
from gopherpayd.kit.http import RequestGuard
from gopherpayd.notifications.endpoints import router as notifications_router
from gopherpayd.notifications.wiring import make_handler
from gopherpayd.settings import Settings
from gopherpayd.transfers.endpoints import router as transfers_router
from gopherpayd.wallets.endpoints import router as wallets_router

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH_BODY_BYTES = 2 * 1024 * 1024
"""POST /v1/transfers/batch: room for 1000 items of the largest size (a 200-character key,
a 254-character email, a 280-character memo of 4-byte UTF-8 characters: about 1.7 KB each)."""
logger = logging.getLogger("gopherpayd")


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    database = db or Database(settings.effective_database_url)

    hub = StreamHub()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
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

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
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
        notifications_router,
        events_router,
        admin_router,
    )
    for router in routers:
        app.include_router(router)
    return app


def _start_background_work(
    settings: Settings, db: Database, hub: StreamHub
) -> list[PostgresListener | InProcessDispatcher]:
    """Live-stream wake-ups from other daemons (Postgres) and, without Kafka, event delivery."""
    started: list[PostgresListener | InProcessDispatcher] = []
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
