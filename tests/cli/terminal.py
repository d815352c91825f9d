"""Running the real `gopherpay` with a pseudo-terminal on stdin or stdout, as in a person's shell."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass


@dataclass
class TerminalRun:
    exit_code: int
    terminal: bytes
    """Everything that reached the terminal: the program's output on it and the terminal's
    own echo of what was typed."""
    stdout: str
    """Empty when stdout was the terminal."""
    stderr: str
    """Empty when stderr was the terminal."""


def run_in_terminal(
    *args: str,
    env: dict[str, str],
    stdin_is_terminal: bool = False,
    stdout_is_terminal: bool = False,
    stderr_is_terminal: bool = False,
    typed: bytes = b"",
    cwd: str | None = None,
) -> TerminalRun:
    """`python -m gopherpay_cli ARGS` with a pty as stdin, stdout and/or stderr (else pipes).

    `typed` is written to the terminal once the program runs, as a person typing.
    """
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "gopherpay_cli", *args],
            stdin=slave if stdin_is_terminal else subprocess.DEVNULL,
            stdout=slave if stdout_is_terminal else subprocess.PIPE,
            stderr=slave if stderr_is_terminal else subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
    finally:
        os.close(slave)
    received = bytearray()
    reader = threading.Thread(target=_read_until_closed, args=(master, received), daemon=True)
    reader.start()
    try:
        if typed:
            os.write(master, typed)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
        reader.join(timeout=10)
        os.close(master)
    return TerminalRun(
        process.returncode,
        bytes(received),
        (stdout or b"").decode(),
        (stderr or b"").decode(),
    )


def _read_until_closed(master: int, received: bytearray) -> None:
    """Collect the terminal's output until the last program holding it has exited."""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO on Linux once no process holds the terminal any more
            return
        if not chunk:
            return
        received.extend(chunk)
