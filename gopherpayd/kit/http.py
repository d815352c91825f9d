"""The HTTP edge: request ids, access logs and metrics, bounded request bodies, deadlines for
slow clients, the listening socket."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from gopherpayd.kit import metrics
from gopherpayd.kit.errors import AppError, PayloadTooLarge, problem_response, validation_problem
from gopherpayd.kit.logs import REQUEST_ID_HEADER, current_request_id, request_id_from

LISTEN_BACKLOG = 2048
CLOSE = {"Connection": "close"}
"""On a refusal sent before the body was read: the rest of it is never read, the connection goes."""


class RequestTimeout(AppError):
    status, code, title = 408, "request_timeout", "Request timeout"


access_logger = logging.getLogger("gopherpayd.access")
LOGIN_PATH = "/v1/auth/login"
_LOGIN_FAILURES = {401: "refused", 403: "refused", 429: "throttled"}


class RequestLog:
    """The outermost layer: gives each request its id (echoed in `X-Request-Id`), then, when
    the response has ended, writes one access-log line and counts it in the metrics by route
    template. Costs no I/O beyond the log line: the metrics are in-memory counters.

    `route_of` turns the matched endpoint into its route template (None: no route matched).
    The access line never has the query string, which may carry a token.
    """

    def __init__(self, app: ASGIApp, *, route_of: Callable[[Scope], str | None]) -> None:
        self.app = app
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_header(scope, b"x-request-id"))
        current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # An exception nobody handled is answered 500 by the server-error layer outside.
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method = scope["method"]
        route = self.route_of(scope) or metrics.UNMATCHED_ROUTE
        metrics.note_request(method, route, status, seconds)
        if route == LOGIN_PATH and status in _LOGIN_FAILURES:
            metrics.note_login_failure(_LOGIN_FAILURES[status])
        client = scope.get("client")
        access_logger.info(
            "%s %s %s %.1f ms",
            method,
            scope["path"],
            status,
            seconds * 1000,
            extra={
                "request_id": request_id,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
            },
        )


class RequestGuard:
    """Reads each request's body before the app does: at most `max_body_bytes` (counted while
    reading, so a chunked body without Content-Length is refused as soon as it passes the
    limit), within `body_timeout` seconds, and without NUL characters (Postgres text cannot
    hold NUL and SQLite would keep it). `larger_bodies` gives paths of their own limit (a
    bulk endpoint)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout: float,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.larger_bodies = dict(larger_bodies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger_bodies.get(scope["path"], self.max_body_bytes)
        too_large = PayloadTooLarge(f"request bodies are limited to {limit} bytes")
        length = _header(scope, b"content-length")
        if length is not None and not (length.isascii() and length.isdigit() and int(length) <= limit):
            await problem_response(too_large.to_problem(), CLOSE)(scope, receive, send)
            return
        try:
            with anyio.fail_after(self.body_timeout):
                body = await self._read_body(receive, limit)
        except TimeoutError:
            late = RequestTimeout(f"the request body did not arrive within {self.body_timeout:g} seconds")
            await problem_response(late.to_problem(), CLOSE)(scope, receive, send)
            return
        if body is None:
            await problem_response(too_large.to_problem(), CLOSE)(scope, receive, send)
            return
        where = nul_character_in(scope["path"], scope["query_string"], body)
        if where is not None:
            errors = [{"loc": [where], "msg": "text must not contain NUL characters", "type": "string_nul"}]
            await problem_response(validation_problem(errors))(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)

    async def _read_body(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None as soon as it is longer than the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect on its next receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body already read, then whatever the client does next."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


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


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers.

    uvicorn times out idle keep-alive connections between requests, but not a connection
    that sends nothing, or half a header line and then a byte now and then (slow loris):
    each would hold a connection for good. The deadline runs from the connection (or the
    first byte of the next request) until its headers are complete.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._header_deadline is None:
                self._start_header_deadline()
        else:
            self._cancel_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _start_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on host:port now, so a busy port fails before any other work is done."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
