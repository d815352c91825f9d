"""`history --follow`: the real executable reading a fake daemon's event stream.

Each test starts `gopherpay history --follow` as a subprocess, reads its stdout
line by line as it comes, and stops it with SIGINT (Ctrl-C) once the expected
lines arrived. Every wait has a timeout, so a hang fails the test instead of
blocking the run.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from gopherpay_cli.client import ApiClient
from gopherpay_cli.credentials import CredentialStore
from gopherpay_cli.follow import Follower, TransferFilter
from gopherpay_cli.render import Renderer
from tests.cli.conftest import AS_ALICE, Run, token_pair, transfer
from tests.cli.fake_daemon import (
    DROP,
    FakeDaemon,
    Reply,
    Request,
    StreamEnd,
    event_stream,
    in_turn,
    problem,
    sse,
)

TIMEOUT = 20.0
"""Seconds to wait for any one thing (a line, an exit) before failing."""
STREAM = "/v1/stream"
HEADER = (
    "date                       kind        direction              amount  counterparty              memo"
    "                  id"
)


def without_unbuffered(env: dict[str, str]) -> dict[str, str]:
    """`env` minus PYTHONUNBUFFERED, so output not flushed on purpose stays in the pipe's buffer."""
    return {name: value for name, value in env.items() if name != "PYTHONUNBUFFERED"}


def transfer_id(number: int) -> str:
    return f"7f3a9c1e-2222-4000-8000-{number:012d}"


def transfer_event(number: int, **fields: Any) -> bytes:
    """Event `number` of the stream, carrying the transfer with id transfer_id(number)."""
    moved = transfer(transfer_id=transfer_id(number), **fields)
    kind = "transfer.sent" if moved["direction"] == "out" else "transfer.received"
    return sse(number, "transfer", {"event_id": f"evt-{number}", "type": kind, "transfer": moved})


def notification_event(number: int) -> bytes:
    payload = {
        "event_id": f"evt-{number}",
        "type": "account.frozen",
        "title": "Wallet frozen",
        "body": "Your EUR wallet was frozen by an operator",
        "data": {"currency": "EUR"},
    }
    return sse(number, "notification", payload)


def numbers(rows: list[str]) -> list[int]:
    """The event number of each printed history row (the last column is the transfer id)."""
    return [int(row.split()[-1].rsplit("-", 1)[1]) for row in rows]


class Following:
    """A running `gopherpay history --follow`, its output collected as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._stdout: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(process.stdout, self._stdout.put), daemon=True),
            threading.Thread(target=self._read, args=(process.stderr, self._stderr.append), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str], keep: Callable[[Any], None]) -> None:
        for line in stream:
            keep(line)
        keep(None)

    @property
    def stderr(self) -> str:
        return "".join(line for line in self._stderr if line is not None)

    def lines(self, count: int) -> list[str]:
        """The next `count` lines of stdout; fails if they do not all come within TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        lines: list[str] = []
        while len(lines) < count:
            try:
                line = self._stdout.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                pytest.fail(f"waited {TIMEOUT} s for {count} lines, got {lines}; stderr: {self.stderr!r}")
            if line is None:
                pytest.fail(f"gopherpay exited after {lines}; stderr: {self.stderr!r}")
            lines.append(line.rstrip("\n"))
        return lines

    def interrupt(self) -> Run:
        """Ctrl-C: the exit code, the stdout not taken by lines() yet, and all of stderr."""
        self.process.send_signal(signal.SIGINT)
        exit_code = self.process.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=TIMEOUT)
        rest = []
        while (line := self._stdout.get_nowait()) is not None:
            rest.append(line)
        return Run(exit_code, "".join(rest), self.stderr)


@pytest.fixture
def follow(cli_env: dict[str, str]) -> Iterator[Callable[..., Following]]:
    """Start `gopherpay <args>`; whatever is still running at the end of the test is killed."""
    started: list[Following] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Following:
        process = subprocess.Popen(
            [sys.executable, "-m", "gopherpay_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=without_unbuffered({**cli_env, **(env or {})}),
        )
        started.append(Following(process))
        return started[-1]

    yield start
    for following in started:
        if following.process.poll() is None:
            following.process.kill()
            following.process.wait(timeout=TIMEOUT)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {TIMEOUT} s in vain")
        time.sleep(0.05)


def stream_requests(daemon: FakeDaemon) -> list[Request]:
    return daemon.seen("GET", STREAM)


def test_each_new_transfer_is_printed_as_a_history_row_as_it_arrives(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on("GET", STREAM, event_stream(transfer_event(1), 0.3, transfer_event(2, direction="in")))

    following = follow("history", "--follow", env=AS_ALICE)
    lines = following.lines(3)
    stopped = following.interrupt()

    assert lines == [
        HEADER,
        "2026-11-26 16:34:27 +00:00  transfer    out                -12.34 USD  bob@example.com"
        f"           lunch                 {transfer_id(1)}",
        "2026-11-26 16:34:27 +00:00  transfer    in                  12.34 USD  bob@example.com"
        f"           lunch                 {transfer_id(2)}",
    ]
    assert (stopped.exit_code, stopped.stdout) == (130, "")  # Ctrl-C: 128 + SIGINT
    assert stopped.stderr == (
        f"Following new transfers from {daemon.url}; press Ctrl-C to stop.\nStopped following.\n"
    )
    [request] = stream_requests(daemon)
    assert request.query == {}
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["authorization"] == "Bearer access-1"
    assert "last-event-id" not in request.headers


def test_json_prints_one_transfer_object_per_line_and_skips_notifications(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on(
        "GET",
        STREAM,
        event_stream(transfer_event(1), notification_event(2), 0.2, transfer_event(3, direction="in")),
    )

    following = follow("history", "--follow", "--json", env=AS_ALICE)
    lines = following.lines(2)
    stopped = following.interrupt()

    assert [json.loads(line) for line in lines] == [
        transfer(transfer_id=transfer_id(1)),
        transfer(transfer_id=transfer_id(3), direction="in"),
    ]
    assert (stopped.exit_code, stopped.stdout) == (130, "")
    assert "Notification" not in stopped.stderr


def test_notifications_are_shown_on_stderr(daemon: FakeDaemon, follow: Callable[..., Following]) -> None:
    daemon.on("GET", STREAM, event_stream(notification_event(1), transfer_event(2)))

    following = follow("history", "--follow", env=AS_ALICE)
    following.lines(2)
    stopped = following.interrupt()

    assert stopped.stderr.splitlines()[1] == (
        "Notification: Wallet frozen — Your EUR wallet was frozen by an operator"
    )


def test_quiet_prints_the_rows_and_nothing_on_stderr(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on("GET", STREAM, event_stream(notification_event(1), transfer_event(2)))

    following = follow("--quiet", "history", "--follow", env=AS_ALICE)
    lines = following.lines(2)
    stopped = following.interrupt()

    assert numbers(lines[1:]) == [2]
    assert (stopped.exit_code, stopped.stderr) == (130, "")


def test_after_a_cut_it_resumes_from_the_last_event_and_misses_nothing(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    cut_mid_event = transfer_event(3)[:25]
    daemon.on(
        "GET",
        STREAM,
        in_turn(
            [
                event_stream(transfer_event(1), transfer_event(2), cut_mid_event, then=StreamEnd.CUT),
                event_stream(transfer_event(3), 0.2, transfer_event(4)),
            ]
        ),
    )

    following = follow("history", "--follow", env=AS_ALICE)
    rows = following.lines(5)[1:]
    stopped = following.interrupt()

    assert numbers(rows) == [1, 2, 3, 4]
    assert [request.headers.get("last-event-id") for request in stream_requests(daemon)] == [None, "2"]
    assert stopped.exit_code == 130  # Ctrl-C: 128 + SIGINT
    notices = stopped.stderr.splitlines()
    assert notices[1].startswith(f"Lost the connection to the GopherPay daemon at {daemon.url}: ")
    assert notices[1].endswith("; reconnecting.")
    assert notices[2:] == ["Reconnected; resuming after event 2.", "Stopped following."]


def test_an_event_the_daemon_sends_again_is_printed_once(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on(
        "GET",
        STREAM,
        in_turn(
            [
                event_stream(transfer_event(1), transfer_event(2), then=StreamEnd.CUT),
                event_stream(transfer_event(2), transfer_event(3)),
            ]
        ),
    )

    following = follow("history", "--follow", "--json", env=AS_ALICE)
    lines = following.lines(3)
    stopped = following.interrupt()

    assert [json.loads(line)["id"] for line in lines] == [transfer_id(1), transfer_id(2), transfer_id(3)]
    assert (stopped.exit_code, stopped.stdout) == (130, "")


def test_a_stream_the_daemon_ends_is_resumed_from_the_position_it_announced(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on(
        "GET",
        STREAM,
        in_turn([event_stream(b"id: 41\n\n", then=StreamEnd.END), event_stream(transfer_event(42))]),
    )

    following = follow("history", "--follow", env=AS_ALICE)
    rows = following.lines(2)[1:]
    stopped = following.interrupt()

    assert numbers(rows) == [42]
    assert [request.headers.get("last-event-id") for request in stream_requests(daemon)] == [None, "41"]
    assert stopped.stderr.splitlines()[1:] == [
        f"The daemon at {daemon.url} ended the stream; reconnecting.",
        "Reconnected; resuming after event 41.",
        "Stopped following.",
    ]


def test_currency_and_direction_filter_the_followed_transfers(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on(
        "GET",
        STREAM,
        event_stream(
            transfer_event(1, direction="out"),
            transfer_event(2, direction="in", currency="EUR"),
            transfer_event(3, direction="in"),
            transfer_event(4, direction="out", currency="EUR"),
            transfer_event(5, direction="in"),
        ),
    )

    following = follow("history", "--follow", "--currency", "usd", "--direction", "in", env=AS_ALICE)
    rows = following.lines(3)[1:]
    stopped = following.interrupt()

    assert numbers(rows) == [3, 5]
    assert stopped.stdout == ""
    assert stream_requests(daemon)[0].query == {}


def test_an_expired_token_is_refreshed_and_the_stream_opened_again(
    daemon: FakeDaemon, follow: Callable[..., Following], logged_in: Run
) -> None:
    def stream_for_fresh_tokens(request: Request) -> Reply:
        if request.headers.get("authorization") == "Bearer access-1":
            return problem(401, "token_expired", "access token has expired")
        return event_stream(transfer_event(1))

    daemon.on("GET", STREAM, stream_for_fresh_tokens)
    daemon.on("POST", "/v1/auth/refresh", Reply(200, token_pair("access-2", "refresh-2")))

    following = follow("history", "--follow", "--json")
    [line] = following.lines(1)
    stopped = following.interrupt()

    assert json.loads(line)["id"] == transfer_id(1)
    assert [(r.method, r.path, r.headers.get("authorization")) for r in daemon.requests] == [
        ("GET", STREAM, "Bearer access-1"),
        ("POST", "/v1/auth/refresh", None),
        ("GET", STREAM, "Bearer access-2"),
    ]
    assert stopped.exit_code == 130  # Ctrl-C: 128 + SIGINT


def test_it_keeps_trying_while_the_daemon_is_unreachable_or_failing(
    daemon: FakeDaemon, follow: Callable[..., Following]
) -> None:
    daemon.on(
        "GET",
        STREAM,
        in_turn(
            [
                DROP,
                problem(503, "unavailable", "the daemon is shutting down"),
                problem(502, "bad_gateway", "no daemon behind the proxy"),
                event_stream(transfer_event(1)),
            ]
        ),
    )

    following = follow("history", "--follow", env=AS_ALICE)
    rows = following.lines(2)[1:]
    stopped = following.interrupt()

    assert numbers(rows) == [1]
    assert len(stream_requests(daemon)) == 4
    notices = stopped.stderr.splitlines()
    assert notices[0].startswith(f"Lost the connection to the GopherPay daemon at {daemon.url}: ")
    assert notices[1:] == [
        f"Following new transfers from {daemon.url}; press Ctrl-C to stop.",
        "Stopped following.",
    ]


@pytest.mark.parametrize(
    ("answer", "exit_code", "stderr"),
    [
        (
            problem(403, "account_frozen", "account alice@example.com is frozen"),
            4,
            "Error: Account alice@example.com is frozen\n"
            "Contact your GopherPay operator to lift the freeze.\n",
        ),
        (
            problem(401, "token_expired", "access token has expired"),
            3,
            "Error: Access token has expired\n"
            "The token in GOPHERPAY_TOKEN was refused. Set it to a live API token "
            "(gopherpay tokens create), or unset it to use your stored login.\n",
        ),
        (
            Reply(200, {"items": []}),
            1,
            "Error: The daemon at {url} answered /v1/stream with application/json, not an event stream\n"
            "Is the daemon a version with real-time history (GET /v1/stream)?\n",
        ),
    ],
)
def test_a_refusal_ends_following_with_the_usual_exit_code(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], answer: Reply, exit_code: int, stderr: str
) -> None:
    daemon.on("GET", STREAM, answer)

    result = gopherpay("history", "--follow", env=AS_ALICE)

    assert (result.exit_code, result.stdout) == (exit_code, "")
    assert result.stderr == stderr.format(url=daemon.url)
    assert len(stream_requests(daemon)) == 1


@pytest.mark.parametrize(
    ("option", "flag"),
    [
        (("--since", "2026-11-01"), "--since"),
        (("--until", "2026-11-01"), "--until"),
        (("--limit", "5"), "--limit"),
        (("--csv",), "--csv"),
    ],
)
def test_options_about_past_transfers_do_not_go_with_follow(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], option: tuple[str, ...], flag: str
) -> None:
    result = gopherpay("history", "--follow", *option, env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {flag} does not go with --follow\n"
        "--follow prints only new transfers; run history without it for earlier ones.\n"
    )
    assert daemon.requests == []


def test_it_stops_quietly_when_the_reader_of_stdout_goes_away(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", STREAM, event_stream(transfer_event(1), 0.5, transfer_event(2), 0.5, transfer_event(3)))
    process = subprocess.Popen(
        [sys.executable, "-m", "gopherpay_cli", "history", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=without_unbuffered({**cli_env, **AS_ALICE}),
    )
    watchdog = threading.Timer(TIMEOUT, process.kill)  # a hang fails below instead of blocking
    watchdog.start()
    try:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()  # as `| head -n 1` does
        exit_code = process.wait(timeout=TIMEOUT)
        stderr = process.stderr.read().decode()
    finally:
        watchdog.cancel()

    assert json.loads(first)["id"] == transfer_id(1)
    assert exit_code == 0
    assert stderr == f"Following new transfers from {daemon.url}; press Ctrl-C to stop.\n"


class StopAfter(Renderer):
    """Stops the follower as Ctrl-C would, once it printed `lines` lines."""

    def __init__(self, lines: int) -> None:
        super().__init__(json_output=True, quiet=False)
        self.lines = lines

    def json_line(self, data: Any) -> None:
        super().json_line(data)
        self.lines -= 1
        if self.lines == 0:
            raise KeyboardInterrupt


def test_a_stream_silent_for_longer_than_the_read_timeout_is_resumed(
    daemon: FakeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOPHERPAY_TOKEN", "access-1")
    silent = event_stream(transfer_event(1), 10.0, then=StreamEnd.CUT)
    daemon.on("GET", STREAM, in_turn([silent, event_stream(transfer_event(2))]))
    client = ApiClient(daemon.url, CredentialStore(daemon.url, tmp_path, warn=print))

    try:
        with pytest.raises(SystemExit) as stopped:
            Follower(client, StopAfter(lines=2), TransferFilter(), read_timeout=0.5).run()
    finally:
        client.close()
    assert stopped.value.code == 130

    output = capsys.readouterr()
    assert [json.loads(line)["id"] for line in output.out.splitlines()] == [transfer_id(1), transfer_id(2)]
    assert [request.headers.get("last-event-id") for request in stream_requests(daemon)] == [None, "1"]
    assert output.err.splitlines()[1:] == [
        f"The GopherPay daemon at {daemon.url} did not answer in time; reconnecting.",
        "Reconnected; resuming after event 1.",
        "Stopped following.",
    ]
