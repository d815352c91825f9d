"""Watching live paths from a test: Server-Sent Events read off a stream, the real
`gopherpay` running in the background, a TCP proxy that can cut connections, and a
Postgres database of one's own for daemons started as processes.

Everything that waits does so with a deadline and fails with what it saw, so a
test never hangs on an event that does not come.
"""

from __future__ import annotations

import os
import queue
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.testclient import TestClient

from tests.e2e.helpers import Cli
from tests.support.api import Account
from tests.support.daemon import executable
from tests.support.databases import create_postgres_database, drop_postgres_database

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"gave up after {timeout}s waiting for {what}; last saw: {last!r}")


@contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A fresh, migrated Postgres database for daemons run as processes; dropped afterwards."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"gopherpay_{label}_{worker}_{os.getpid()}"
    url = create_postgres_database(name)
    try:
        yield url
    finally:
        drop_postgres_database(name)


# --- Server-Sent Events over the API -------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One block of an event stream, up to its blank line."""

    fields: dict[str, str]
    comments: tuple[str, ...] = ()

    @property
    def id(self) -> str | None:
        return self.fields.get("id")

    @property
    def event(self) -> str | None:
        return self.fields.get("event")

    @property
    def data(self) -> str | None:
        return self.fields.get("data")


def parse_frames(lines: Iterable[str]) -> Iterator[Frame]:
    """Blocks of `field: value` lines (and `: comment` lines) separated by blank lines."""
    fields: dict[str, str] = {}
    comments: list[str] = []
    for line in lines:
        if not line:
            if fields or comments:
                yield Frame(dict(fields), tuple(comments))
            fields, comments = {}, []
        elif line.startswith(":"):
            comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


class FrameReader:
    """Reads frames off a stream in a thread, so a test can wait for each with a deadline."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._frames: queue.Queue[Frame | BaseException | None] = queue.Queue()
        self.seen: list[Frame] = []
        self._thread = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self._thread.start()

    def _read(self, lines: Iterator[str]) -> None:
        try:
            for frame in parse_frames(lines):
                self._frames.put(frame)
        except BaseException as error:  # the stream was closed under us; the test decides
            self._frames.put(error)
        self._frames.put(None)

    def next(self, timeout: float = 5.0) -> Frame:
        try:
            item = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no frame within {timeout}s; frames so far: {self.seen}") from None
        if item is None or isinstance(item, BaseException):
            raise AssertionError(f"the stream ended ({item!r}); frames so far: {self.seen}")
        self.seen.append(item)
        return item

    def next_event(self, timeout: float = 5.0) -> Frame:
        """The next frame that carries data (keep-alives and id-only frames skipped)."""
        while True:
            frame = self.next(timeout)
            if frame.data is not None:
                return frame

    def events(self, count: int, timeout: float = 5.0) -> list[Frame]:
        return [self.next_event(timeout) for _ in range(count)]


@contextmanager
def open_stream(
    client: TestClient, account: Account, last_event_id: str | None = None, **params: Any
) -> Iterator[FrameReader]:
    """GET /v1/stream as `account` (Last-Event-ID and ?after= optional), read frame by frame."""
    headers = {**account.headers, "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with client.stream("GET", "/v1/stream", headers=headers, params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
        yield FrameReader(response.iter_lines())


# --- The real CLI in the background --------------------------------------------------


@dataclass(frozen=True)
class Line:
    at: float
    """time.monotonic() when the line was read."""
    text: str


@dataclass
class BackgroundCli:
    """A long-running `gopherpay` (like `history --follow`), its output read line by line."""

    process: subprocess.Popen[str]
    stdout: list[Line] = field(default_factory=list)
    stderr: list[Line] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(cls, cli: Cli, *args: str) -> BackgroundCli:
        process = subprocess.Popen(
            [executable("gopherpay"), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=cli.env(),
            cwd=cli.home,
        )
        running = cls(process)
        assert process.stdout is not None and process.stderr is not None
        for stream, lines in ((process.stdout, running.stdout), (process.stderr, running.stderr)):
            threading.Thread(target=running._collect, args=(stream, lines), daemon=True).start()
        return running

    def _collect(self, stream: Any, lines: list[Line]) -> None:
        for text in stream:
            with self._changed:
                lines.append(Line(time.monotonic(), text.rstrip("\n")))
                self._changed.notify_all()

    def wait_for_stdout_lines(self, count: int, timeout: float) -> list[Line]:
        return self._wait(lambda: self.stdout[:count] if len(self.stdout) >= count else None, timeout)

    def wait_for_stderr(self, text: str, timeout: float) -> Line:
        return self._wait(lambda: next((line for line in self.stderr if text in line.text), None), timeout)

    def _wait(self, found: Callable[[], T | None], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (result := found()) is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"gave up waiting after {timeout}s; {self.transcript()}")
                self._changed.wait(min(left, 0.1))
            return result

    def interrupt(self, timeout: float = 10.0) -> int:
        """Ctrl-C: SIGINT, then the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def transcript(self) -> str:
        with self._changed:
            out = "\n".join(line.text for line in self.stdout)
            err = "\n".join(line.text for line in self.stderr)
        return f"exit status {self.process.poll()}\n--- stdout\n{out}\n--- stderr\n{err}"


# --- A TCP proxy that can drop its connections ---------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream port; `cut()` kills every connection and
    refuses new ones (the port stops listening) until `resume()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._listen(0)
        assert self._listener is not None
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        listener.settimeout(0.05)
        with self._lock:
            self._listener = listener

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.accepted += 1
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            for sock in (client, upstream):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> None:
        """Drop every open connection and stop listening."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            listener.close()
        for sock in connections:
            # The pump sees its sockets end and closes them; closing here would leave
            # it waiting on descriptors that no longer exist.
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self._listen(self.port)

    def close(self) -> None:
        self._stopping.set()
        self.cut()
        self._thread.join(timeout=2)
