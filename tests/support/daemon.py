"""Run the real `gopherpayd` executable as a subprocess, the way an operator does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.databases import TEST_BCRYPT_ROUNDS

BIN_DIR = Path(sys.executable).parent


def executable(name: str) -> str:
    """The console script installed next to this interpreter (the project's venv)."""
    path = BIN_DIR / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: install the project with pip install -e '.[dev]'")
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daemon_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPHERPAY_", "GOPHERPAYD_"))}
    env.update(
        {
            "GOPHERPAY_DATA_DIR": str(data_dir),
            "GOPHERPAY_ENVIRONMENT": "test",
            "GOPHERPAY_BCRYPT_ROUNDS": str(TEST_BCRYPT_ROUNDS),
            "GOPHERPAY_REQUIRE_VERIFIED_EMAIL": "false",
        }
    )
    if database_url:
        env["GOPHERPAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@dataclass
class RunningDaemon:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gopherpayd exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0, verify=False).status_code == 200:  # noqa: S501
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gopherpayd did not become ready within {timeout}s:\n{log_path.read_text()}")


@contextmanager
def run_daemon(
    data_dir: Path,
    database_url: str | None = None,
    *,
    extra_args: list[str] | None = None,
    scheme: str = "http",
    log_dir: Path | None = None,
    **extra_env: str,
) -> Iterator[RunningDaemon]:
    """Start `gopherpayd serve` on a free port; stop it (SIGTERM) afterwards.

    The log goes into the data directory, or into `log_dir`: then the data directory is
    left for the daemon to create, as on a first start.
    """
    if log_dir is None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_dir = data_dir
    port = free_port()
    env = daemon_env(data_dir, database_url, **extra_env)
    log_path = log_dir / f"gopherpayd-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                executable("gopherpayd"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(extra_args or []),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
        yield RunningDaemon(url=url, process=process, env=env, log_path=log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
