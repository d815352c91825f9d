"""`gopherpayd serve` as an operator runs it: stopped with streams open, started twice."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Cli, sign_up
from tests.events.live import BackgroundCli
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, daemon_env, executable, run_daemon, wait_until_ready

pytestmark = pytest.mark.e2e

STOPS_WITHIN = 20.0
"""Generous: the streams end within about a second, the graceful timeout is 10 s."""
FOLLOWING = "Following new transfers from"


@dataclass
class WatchedStream:
    """GET /v1/stream read in a thread: did it end, and how."""

    first_frame: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    lines: list[str] = field(default_factory=list)

    def read(self, url: str, account: Account) -> None:
        try:
            with (
                httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=60)) as http,
                http.stream("GET", "/v1/stream", headers=account.headers) as response,
            ):
                assert response.status_code == 200, response.read()
                for line in response.iter_lines():
                    self.lines.append(line)
                    if line == "":
                        self.first_frame.set()
        except BaseException as error:  # what a cut-off connection raises; the test looks at it
            self.error = error
        finally:
            self.first_frame.set()
            self.ended.set()


@contextmanager
def watching(daemon: RunningDaemon, account: Account) -> Iterator[WatchedStream]:
    watched = WatchedStream()
    reader = threading.Thread(target=watched.read, args=(daemon.url, account), daemon=True)
    reader.start()
    assert watched.first_frame.wait(10) and watched.error is None, watched
    yield watched
    reader.join(timeout=STOPS_WITHIN)


SIGNALS = [
    pytest.param(signal.SIGTERM, -signal.SIGTERM, id="SIGTERM"),
    pytest.param(signal.SIGINT, 0, id="Ctrl-C"),
]
"""The signal, and serve's exit status after it: uvicorn ends a SIGTERM'd process by that
signal again once it has shut down (as systemd expects); Ctrl-C is an ordinary exit."""


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_status"), SIGNALS)
def test_serve_stops_on_a_signal_while_streams_are_open_and_ends_them_cleanly(
    tmp_path: Path, signum: signal.Signals, exit_status: int
) -> None:
    with run_daemon(tmp_path / "data") as daemon, httpx.Client(base_url=daemon.url, timeout=30) as http:
        alice = Api(http).signup("alice@example.com")
        bob = Cli(tmp_path / "home-bob", daemon.url)
        (tmp_path / "home-bob").mkdir()
        sign_up(bob, "bob@example.com", "Bob Builder", "bob-password")
        follower = BackgroundCli.start(bob, "history", "--follow")
        try:
            follower.wait_for_stderr(FOLLOWING, timeout=10)
            with watching(daemon, alice) as stream:
                daemon.process.send_signal(signum)
                status = daemon.process.wait(timeout=STOPS_WITHIN)
                assert stream.ended.wait(STOPS_WITHIN), "the stream is still open"
            ended = follower.wait_for_stderr("ended the stream", timeout=10)
            assert follower.interrupt() == 130, follower.transcript()  # Ctrl-C: 128 + SIGINT
        finally:
            follower.stop()

    assert status == exit_status, daemon.log()
    # A clean end of the response (its last chunk), not a connection cut in the middle.
    assert stream.error is None, repr(stream.error)
    assert stream.lines[:2] == ["retry: 1000", "id: 2"], stream.lines
    assert ended.text == f"The daemon at {daemon.url} ended the stream; reconnecting.", follower.transcript()
    assert "Cancel" not in daemon.log(), daemon.log()  # no request had to be cut off


def test_a_second_serve_on_a_busy_port_fails_at_once_and_touches_nothing(tmp_path: Path) -> None:
    fresh = tmp_path / "second-data-dir"
    with run_daemon(tmp_path / "first") as first:
        port = first.url.rsplit(":", 1)[1]
        second = subprocess.run(
            [executable("gopherpayd"), "serve", "--host", "127.0.0.1", "--port", port],
            env=daemon_env(fresh),
            capture_output=True,
            text=True,
            timeout=60,
        )
        wait_until_ready(first.url, first.process, first.log_path)

    assert second.returncode == 1, second
    assert second.stderr == (
        f"gopherpayd: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is another gopherpayd running? choose another --port)\n"
    )
    assert second.stdout == ""
    # Neither migrated nor started anything: not even its data directory was made.
    assert not fresh.exists()
