"""A tiny HTTP server standing in for gopherpayd in the CLI's own tests.

Each test scripts the answers it needs (`daemon.on("POST", "/v1/transfers", ...)`)
and then reads back exactly what the CLI sent (`daemon.requests`). The real
daemon is exercised by the end-to-end tests; these pin the client's behaviour
on answers the real daemon rarely gives on demand (a dropped connection, an
expired token at the right moment).

A reply can also be a Server-Sent Events stream: chunks written as scripted,
with pauses between them, then ended, cut off mid-body, or held open.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any


class StreamEnd(Enum):
    END = "end"
    """Send the last chunk: the daemon ended the stream on purpose."""
    CUT = "cut"
    """Close the connection in the middle of the body, as a crash or a broken link would."""
    HOLD = "hold"
    """Keep the stream open, with a keep-alive comment now and then, until the client leaves."""


KEEP_ALIVE = b": keep-alive\n\n"
KEEP_ALIVE_EVERY = 0.2
"""Seconds between keep-alives while a stream is held open (the daemon waits 15 s)."""


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering, as a crashed daemon or a broken link would."""
    stream: Sequence[bytes | float] | None = None
    """A `text/event-stream` body sent in chunks: each bytes item is written and flushed
    at once, each float is a pause in seconds. `then` says what follows the last one."""
    then: StreamEnd = StreamEnd.HOLD
    delay: float = 0.0
    """Seconds to wait before answering (cut short when the fake daemon stops), as an
    overloaded daemon or a stuck database would."""
    stop_listening: bool = False
    """Stop accepting connections before answering: later requests are refused, as
    when the daemon goes down."""


def event_stream(*steps: bytes | float, then: StreamEnd = StreamEnd.HOLD) -> Reply:
    """A 200 answer streaming `steps` (chunks and pauses), then ending, cut or held open."""
    return Reply(200, stream=steps, then=then)


def sse(event_id: int | str, event: str, data: Any) -> bytes:
    """One Server-Sent Event as the daemon writes it: id, event type, JSON data, blank line."""
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


DROP = Reply(drop=True)

Handler = Callable[[Request], Reply]


def problem(status: int, code: str, detail: str, **extra: Any) -> Reply:
    """An RFC 9457 problem answer, as the daemon sends them."""
    body = {
        "type": f"https://gopherpay.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    headers = {"Content-Type": "application/problem+json"}
    if "retry_after" in extra:
        headers["Retry-After"] = str(body.pop("retry_after"))
    return Reply(status, body, headers)


CURSOR_PREFIX = "at-"


def paged_list(items: Sequence[Any], last_page_waits_for: threading.Event | None = None) -> Handler:
    """`GET` of a list over `items`, paged as the daemon pages one: at most `limit` items
    (1 to 200, else a 422) from `cursor` on, and a `next_cursor` while more remain (None
    after the last item). A cursor is `at-N`, the index of the next item, opaque to the
    client, which only hands it back; any other cursor is a 400 invalid_cursor.
    With `last_page_waits_for`, the last page is sent only once the test sets that event."""

    def handle(request: Request) -> Reply:
        limit = request.query.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            return problem(422, "validation_error", f"limit must be 1 to 200, not {limit!r}")
        cursor = request.query.get("cursor", f"{CURSOR_PREFIX}0")
        start = cursor.removeprefix(CURSOR_PREFIX)
        if not cursor.startswith(CURSOR_PREFIX) or not start.isdigit():
            return problem(400, "invalid_cursor", "cursor is not one this server issued")
        end = min(int(start) + int(limit), len(items))
        if last_page_waits_for is not None and end == len(items) and not last_page_waits_for.wait(20):
            return problem(500, "gate_never_opened", "the test never let the last page go")
        next_cursor = f"{CURSOR_PREFIX}{end}" if end < len(items) else None
        return Reply(200, {"items": list(items[int(start) : end]), "next_cursor": next_cursor})

    return handle


def in_turn(replies: Iterable[Reply]) -> Handler:
    """Answer with each reply in turn, then keep repeating the last one."""
    pending: Iterator[Reply] = iter(replies)
    last: list[Reply] = []

    def handle(_request: Request) -> Reply:
        reply = next(pending, None)
        if reply is None:
            return last[0]
        last[:] = [reply]
        return reply

    return handle


class FakeDaemon:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def on(self, method: str, path: str, answer: Reply | Handler) -> None:
        """Answer `method path` (query string ignored) with a fixed reply or a handler."""
        self._routes[(method, path)] = answer if callable(answer) else (lambda _request: answer)

    def seen(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # ends the streams held open and the delayed answers
        self._server.shutdown()
        self._server.server_close()

    def _stop_listening(self) -> None:
        """Close the listening socket (from a handler thread): new connections are refused."""
        self._server.shutdown()  # returns at once when already shut down
        self._server.server_close()

    def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return problem(404, "not_found", f"no route {request.method} {request.path}")
        return handler(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        daemon = self

        class _Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={name: values[-1] for name, values in parse_qs(parts.query).items()},
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )
                reply = daemon._answer(request)
                if reply.delay and daemon._stopping.wait(reply.delay):
                    return
                if reply.stop_listening:
                    daemon._stop_listening()
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.stream is not None:
                    self._stream(reply)
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, reply: Reply) -> None:
                """Answer with a chunked body (HTTP/1.1), so a cut is seen as one by the client."""
                self.protocol_version = "HTTP/1.1"
                self.close_connection = True
                self.send_response(reply.status)
                headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for step in reply.stream or ():
                        if isinstance(step, bytes):
                            self._chunk(step)
                        elif daemon._stopping.wait(step):
                            return
                    if reply.then is StreamEnd.HOLD:
                        while not daemon._stopping.wait(KEEP_ALIVE_EVERY):
                            self._chunk(KEEP_ALIVE)
                    if reply.then is StreamEnd.END:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client went away (broken pipe, reset)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler
