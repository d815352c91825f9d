"""The FastAPI application."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from gopherpayd import __version__
from gopherpayd.admin.endpoints import router as admin_router
from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.events.endpoints import router as events_router
from gopherpayd.events.wakeups import PostgresListener, StreamHub
from gopherpayd.identity.endpoints import router as identity_router
from gopherpayd.kit.context import AppContext, Context
from gopherpayd.kit.db import Database
from gopherpayd.kit.errors import (
    PayloadTooLarge,
    install_error_handlers,
    problem_response,
    validation_problem,
)
from gopherpayd.notifications.endpoints import router as notifications_router
from gopherpayd.notifications.wiring import make_handler
from gopherpayd.settings import Settings
from gopherpayd.transfers.endpoints import router as transfers_router
from gopherpayd.wallets.endpoints import router as wallets_router

MAX_BODY_BYTES = 64 * 1024
logger = logging.getLogger("gopherpayd")


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    database = db or Database(settings.effective_database_url)

    hub = StreamHub()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = _start_background_work(settings, database, hub)
        yield
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

    @app.middleware("http")
    async def refuse_oversized_or_nul_input(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:  # sent chunked, without a Content-Length to refuse it by
            error = PayloadTooLarge(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
            return problem_response(error.to_problem())
        # Postgres text cannot hold NUL and SQLite would keep it: refuse it up front, on both.
        where = nul_character_in(request.scope["path"], request.scope["query_string"], body)
        if where is not None:
            errors = [{"loc": [where], "msg": "text must not contain NUL characters", "type": "string_nul"}]
            return problem_response(validation_problem(errors))
        return await call_next(request)

    @app.middleware("http")
    async def limit_body_size(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            error = PayloadTooLarge(f"request bodies are limited to {MAX_BODY_BYTES} bytes")
            return problem_response(error.to_problem())
        return await call_next(request)

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


_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""`\\u0000` preceded by an even number of backslashes: a NUL inside a JSON string."""


def nul_character_in(path: str, query: bytes, body: bytes) -> str | None:
    """Which part of a request carries a NUL character, if any."""
    if "\x00" in path:
        return "path"
    if b"\x00" in unquote_to_bytes(query):
        return "query"
    if b"\x00" in body or _JSON_NUL_ESCAPE.search(body):
        return "body"
    return None
