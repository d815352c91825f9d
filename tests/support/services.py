"""Background processes for tests: `gopherpayd relay` / `gopherpayd worker`, brokers, stand-ins.

Every process writes its stdout and stderr to a log file (appended across restarts, each
start marked by a header line) so a failing test can show what the process said. Processes
that a test forgets to stop are killed when the interpreter exits.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tests.support.daemon import executable

ServiceKind = Literal["relay", "worker", "serve"]

_running: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_running):
        if process.poll() is None:
            process.kill()
            process.wait()


def start_logged_process(argv: Sequence[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start argv with its output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        command = " ".join(argv).replace("\n", "\\n")  # one line, whatever the arguments hold
        log.write(f"=== {stamp} start: {command}\n".encode())
        log.flush()
        process = subprocess.Popen(list(argv), env=env, stdout=log, stderr=subprocess.STDOUT)
    _running.add(process)
    return process


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Send sig and wait; SIGKILL when the process outlives timeout. Returns the exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _running.discard(process)
    return process.returncode


def read_log(log_path: Path) -> str:
    return log_path.read_text(errors="replace") if log_path.exists() else ""


class ServiceProcess:
    """One long-running process (by default `gopherpayd <kind>`) that a test can kill and restart."""

    def __init__(
        self,
        kind: str,
        env: dict[str, str],
        log_path: Path,
        *,
        args: Sequence[str] = (),
        argv: Sequence[str] | None = None,
    ) -> None:
        self.kind = kind
        self.env = env
        self.log_path = log_path
        self.argv = list(argv) if argv is not None else [executable("gopherpayd"), kind, *args]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    def __repr__(self) -> str:
        return f"<ServiceProcess {self.kind} pid={self.pid} alive={self.alive}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def start(self) -> ServiceProcess:
        if self.alive:
            raise RuntimeError(f"{self.kind} is already running (pid {self.pid})")
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = start_logged_process(self.argv, self.env, self.log_path)
        self.starts += 1
        return self

    def kill(self) -> int | None:
        """SIGKILL: the crash a test wants to survive. Returns the exit status."""
        if self.process is None:
            return None
        return stop_process(self.process, signal.SIGKILL)

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after timeout). Returns the exit status."""
        if self.process is None:
            return None
        return stop_process(self.process, signal.SIGTERM, timeout)

    def restart(self) -> ServiceProcess:
        """Stop it if it still runs (SIGTERM), then start it again with the same command and env."""
        self.terminate()
        return self.start()

    def log(self, *, since_start: bool = False) -> str:
        """Everything the process logged, or only what it logged since its latest start."""
        if not since_start or not self.log_path.exists():
            return read_log(self.log_path)
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            log.readline()  # our own "=== start" line, which quotes the command
            return log.read().decode(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 15.0, *, since_start: bool = True) -> re.Match[str]:
        """Wait until the log (by default: since the latest start) matches the regex pattern."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log(since_start=since_start)
            match = regex.search(text)
            if match:
                return match
            if not self.alive:
                raise RuntimeError(
                    f"{self.kind} exited with {self.returncode} before logging {pattern!r}:\n{text}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.kind} did not log {pattern!r} within {timeout}s:\n{text}")
            time.sleep(0.05)

    def assert_alive(self) -> None:
        if not self.alive:
            raise AssertionError(f"{self.kind} exited with {self.returncode}:\n{self.log()}")


@contextmanager
def run_service(
    kind: ServiceKind,
    env: dict[str, str],
    log_path: Path,
    *,
    args: Sequence[str] = (),
    argv: Sequence[str] | None = None,
) -> Iterator[ServiceProcess]:
    """Start `gopherpayd <kind>` (or argv) and always stop it afterwards, however the test ends."""
    service = ServiceProcess(kind, env, log_path, args=args, argv=argv).start()
    try:
        yield service
    finally:
        service.terminate()


def minimal_env(**extra: str) -> dict[str, str]:
    """An environment with nothing from the caller's but PATH (for third-party binaries)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(extra)
    return env
