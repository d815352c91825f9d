"""ServiceProcess, which runs `gopherpayd relay` / `worker` in the event tests, on a stand-in command."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tests.support.services import ServiceProcess, run_service

# Says when it is ready, counts its starts in a file, and leaves cleanly on SIGTERM.
SERVICE_SCRIPT = """
import pathlib, signal, sys, time
starts = pathlib.Path(sys.argv[1])
starts.write_text(str(int(starts.read_text() or 0) + 1) if starts.exists() else "1")
def leave(*_):
    print("draining, bye", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, leave)
print("ready: start", starts.read_text(), flush=True)
while True:
    time.sleep(0.05)
"""


def stand_in_argv(tmp_path: Path) -> list[str]:
    return [sys.executable, "-c", SERVICE_SCRIPT, str(tmp_path / "starts")]


def test_a_service_is_killed_restarted_and_terminated_with_its_output_in_one_log(tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    with run_service("worker", {}, log_path, argv=stand_in_argv(tmp_path)) as worker:
        worker.wait_for_log(r"ready: start 1")

        assert worker.kill() == -signal.SIGKILL
        assert not worker.alive
        worker.restart()
        worker.wait_for_log(r"ready: start 2")
        worker.assert_alive()

        assert worker.terminate() == 0
    assert "draining, bye" in worker.log(since_start=True)
    log = worker.log()
    assert log.count("=== ") == 2 and "ready: start 1" in log and "ready: start 2" in log
    assert worker.starts == 2


def test_leaving_the_context_stops_a_running_service(tmp_path: Path) -> None:
    with run_service("relay", {}, tmp_path / "relay.log", argv=stand_in_argv(tmp_path)) as relay:
        relay.wait_for_log("ready")
    assert not relay.alive and relay.returncode == 0


def test_waiting_for_a_log_line_from_a_process_that_died_says_so_with_its_log(tmp_path: Path) -> None:
    crashing = ServiceProcess(
        "relay",
        {},
        tmp_path / "relay.log",
        argv=[sys.executable, "-c", "print('no broker'); raise SystemExit(3)"],
    ).start()

    with pytest.raises(RuntimeError, match=r"(?s)relay exited with 3 before logging 'ready'.*no broker"):
        crashing.wait_for_log("ready", timeout=10)


def test_the_default_command_is_the_installed_gopherpayd(tmp_path: Path) -> None:
    relay = ServiceProcess("relay", {}, tmp_path / "relay.log", args=["--help"])

    assert relay.argv[0] == str(Path(sys.executable).parent / "gopherpayd")
    assert relay.argv[1:] == ["relay", "--help"]
