"""What one client can hold of a real daemon: body bytes, connections, time.

A body is refused as soon as it passes the limit (not after it has all been read),
a client that is slow to send its headers is cut off, and so is a connection left
idle. (The per-user cap on open streams is in tests/events/test_stream_api.py.)
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.daemon import RunningDaemon, run_daemon

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1
KEEP_ALIVE_TIMEOUT = 1
WITHIN = 20.0
"""Generous bound for the daemon to do what a timeout of about a second says."""
BODY_LIMIT = 64 * 1024
REFUSED_BEFORE = 2 * 1024 * 1024
"""A body refused "early" was refused before the client got this much of it sent."""
SEND_BUFFER = 32 * 1024
"""The client's own send buffer, kept small so bytes sent are close to bytes the daemon accepted."""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with run_daemon(
        tmp_path_factory.mktemp("gopherpayd-resources"),
        GOPHERPAY_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        GOPHERPAY_HTTP_KEEP_ALIVE_TIMEOUT=str(KEEP_ALIVE_TIMEOUT),
    ) as running:
        yield running


def connect(daemon: RunningDaemon) -> socket.socket:
    host, port = daemon.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    sock.connect((host, int(port)))
    return sock


def closed_by_the_daemon(sock: socket.socket, within: float = WITHIN) -> bytes:
    """Everything the daemon still sends, up to its closing the connection; fails after `within` s."""
    sock.settimeout(within)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"the connection was still open after {within}s; got {received!r}") from None
    return received


def send_chunked_until_answered(sock: socket.socket, give_up_after: int) -> int:
    """Send a chunked body without end; answers how many body bytes were sent before the
    daemon's answer could be read (or `give_up_after`, if it never answered)."""
    piece = b" " * 16384
    chunk = memoryview(b"%x\r\n%s\r\n" % (len(piece), piece))
    sock.setblocking(False)
    sent = offset = 0
    while sent < give_up_after:
        readable, writable, _ = select.select([sock], [sock], [], WITHIN)
        if readable:
            break
        if not writable:
            raise AssertionError(f"the daemon neither read nor answered for {WITHIN}s after {sent} bytes")
        try:
            written = sock.send(chunk[offset:])
        except (BrokenPipeError, ConnectionResetError):
            break  # closed after answering: the answer is waiting to be read
        sent += written
        offset = (offset + written) % len(chunk)
    sock.setblocking(True)
    return sent


def test_a_chunked_body_past_the_limit_is_refused_before_the_daemon_reads_much_more(
    daemon: RunningDaemon,
) -> None:
    with connect(daemon) as sock:
        sock.sendall(
            b"POST /v1/auth/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = send_chunked_until_answered(sock, give_up_after=4 * REFUSED_BEFORE)
        answer = closed_by_the_daemon(sock)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 413 Request Entity Too Large", answer[:500]
    assert b"connection: close" in head.lower(), head
    assert b'"code":"payload_too_large"' in body, body
    assert BODY_LIMIT < sent < REFUSED_BEFORE, sent


def test_a_content_length_past_the_limit_is_refused_without_reading_the_body(daemon: RunningDaemon) -> None:
    with connect(daemon) as sock:
        sock.sendall(
            b"POST /v1/auth/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        answer = closed_by_the_daemon(sock)
    assert answer.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"), answer[:500]


def test_a_client_that_sends_half_a_header_line_is_cut_off(daemon: RunningDaemon) -> None:
    with connect(daemon) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-Loris: aaaa")
        assert closed_by_the_daemon(sock) == b""


def test_a_client_that_trickles_its_headers_is_cut_off_at_the_deadline(daemon: RunningDaemon) -> None:
    # Each byte comes well within the timeout; the deadline is for the headers as a whole.
    with connect(daemon) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-Loris: ")
        started = time.monotonic()
        sock.settimeout(0)
        cut_off = False
        while not cut_off and time.monotonic() - started < WITHIN:
            try:
                sock.send(b"a")
                cut_off = sock.recv(1) == b""
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
            time.sleep(HEADER_TIMEOUT / 10)  # pacing the trickle, not waiting for an event
    assert cut_off, f"still connected after trickling headers for {WITHIN}s"


def test_a_connection_that_never_sends_anything_is_closed(daemon: RunningDaemon) -> None:
    with connect(daemon) as sock:
        assert closed_by_the_daemon(sock) == b""


def test_a_kept_alive_connection_is_closed_once_idle_and_served_before(daemon: RunningDaemon) -> None:
    with connect(daemon) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(WITHIN)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                chunk = sock.recv(65536)
                assert chunk, f"closed before answering: {answer!r}"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
        assert closed_by_the_daemon(sock) == b""


def test_the_daemon_still_serves_after_all_that(daemon: RunningDaemon) -> None:
    with connect(daemon) as sock:
        sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = closed_by_the_daemon(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
