"""A tiny HTTP server standing in for gopherpayd in the CLI's own tests.

Each test scripts the answers it needs (`daemon.on("POST", "/v1/transfers", ...)`)
and then reads back exactly what the CLI sent (`daemon.requests`). The real
daemon is exercised by the end-to-end tests; these pin the client's behaviour
on answers the real daemon rarely gives on demand (a dropped connection, an
expired token at the right moment).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Close the connection without answering, as a crashed daemon or a broken link would."""


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
        self._server.shutdown()
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
                if reply.drop:
                    self.close_connection = True
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return _Handler
