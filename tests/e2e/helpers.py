"""Running `gopherpay` and `gopherpayd` the way people do, and reading what they print.

Every CLI run gets a clean environment: the daemon URL, its own XDG config and
data directories (one home directory is one person's computer), a file keyring
that persists across processes, no colour and no GOPHERPAY_TOKEN.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.api import Api
from tests.support.daemon import RunningDaemon, executable

PLAINTEXT_KEYRING = "keyrings.alt.file.PlaintextKeyring"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"
PROCESS_TIMEOUT = 60
LOGIN_HINT = "Run: gopherpay login"
UNREACHABLE_HINT = (
    "Is the daemon running (gopherpayd serve)? Point the CLI at it with --server or GOPHERPAY_SERVER."
)


@dataclass(frozen=True)
class Run:
    """One finished process: its arguments, exit status and both output streams."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    program: str = "gopherpay"

    @property
    def stdout_lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()

    def json(self) -> Any:
        return json.loads(self.stdout)

    def transcript(self) -> str:
        """What the person saw in their terminal (for `pytest -s` and failure messages)."""
        parts = [f"$ {self.program} {shlex.join(self.args)}"]
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append(self.stderr.rstrip("\n"))
        if self.returncode:
            parts.append(f"[exit status {self.returncode}]")
        return "\n".join(parts)


def clean_env(home: Path, server: str | None, **extra: str) -> dict[str, str]:
    """A person's environment, with nothing inherited but PATH. An empty value removes a variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "PYTHON_KEYRING_BACKEND": PLAINTEXT_KEYRING,
        "NO_COLOR": "1",
        # Times are shown in the local zone; a person elsewhere sets TZ (see test_people.py).
        "TZ": "UTC",
    }
    if server is not None:
        env["GOPHERPAY_SERVER"] = server
    env.update(extra)
    return {name: value for name, value in env.items() if value != ""}


@dataclass
class Cli:
    """`gopherpay` on one person's computer (one home directory)."""

    home: Path
    server: str | None
    env_overrides: dict[str, str] = field(default_factory=dict)
    echo: bool = False

    def __call__(self, *args: str, input: str = "", **env: str) -> Run:
        completed = subprocess.run(
            [executable("gopherpay"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(**env),
            cwd=self.home,
            timeout=PROCESS_TIMEOUT,
        )
        run = Run(tuple(args), completed.returncode, completed.stdout, completed.stderr)
        if self.echo:
            print(run.transcript(), end="\n\n")
        return run

    def sh(self, command_line: str, input: str = "", **env: str) -> Run:
        """The command as it would be typed after `gopherpay` (shell quoting rules)."""
        return self(*shlex.split(command_line), input=input, **env)

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(self.home, self.server, **{**self.env_overrides, **extra})

    @property
    def keyring_file(self) -> Path:
        """Where keyrings.alt's plaintext backend keeps its secrets (under XDG_DATA_HOME)."""
        return self.home / "data" / "python_keyring" / "keyring_pass.cfg"

    @property
    def credentials_file(self) -> Path:
        """The CLI's own 0600 file, used when no keyring backend works."""
        return self.home / "config" / "gopherpay" / "credentials.json"

    def stored_login(self, profile: str | None = None) -> dict[str, Any] | None:
        """The login the CLI keeps in the file keyring for this server (and profile)."""
        from keyrings.alt.file import PlaintextKeyring

        keyring = PlaintextKeyring()
        keyring.file_path = str(self.keyring_file)
        assert self.server is not None
        entry = self.server if profile is None else f"{self.server}#{profile}"
        secret = keyring.get_password("gopherpay", entry)
        return None if secret is None else json.loads(secret)


CliFactory = Callable[..., Cli]
"""`new_cli(server_url, "alice", EXTRA_ENV="…")`: a fresh computer for one person."""


@dataclass
class Operator:
    """An admin made with `gopherpayd create-admin`; funds people over the API."""

    api: Api
    email: str
    password: str

    def deposit(self, email: str, amount_minor: int, currency: str = "USD") -> dict[str, Any]:
        # A fresh login each time: a session-wide operator outlives a 15-minute access token.
        return self.api.deposit(self.api.login(self.email, self.password), email, amount_minor, currency)


def run_gopherpayd(daemon: RunningDaemon, *args: str, input: str = "") -> Run:
    """A local maintenance command next to a running daemon (same data dir and database)."""
    completed = subprocess.run(
        [executable("gopherpayd"), *args],
        input=input,
        capture_output=True,
        text=True,
        env=daemon.env,
        timeout=PROCESS_TIMEOUT,
    )
    return Run(tuple(args), completed.returncode, completed.stdout, completed.stderr, program="gopherpayd")


def sign_up(cli: Cli, email: str, name: str, password: str) -> Run:
    """`gopherpay signup` with the password on stdin; the person is logged in afterwards."""
    signed_up = cli("signup", "--email", email, "--name", name, "--password-stdin", input=f"{password}\n")
    assert signed_up.returncode == 0, signed_up.transcript()
    return signed_up


def table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the first table as it is printed to a pipe: tab-separated lines,
    up to the first line of another width (a details view printed after it)."""
    header, *lines = [line.split("\t") for line in stdout.splitlines()] or [[]]
    rows: list[list[str]] = []
    for cells in lines:
        if len(cells) != len(header):
            break
        rows.append(cells)
    return header, rows


def details(stdout: str) -> dict[str, str]:
    """The field/value pairs of a one-record view, as printed to a pipe: `field<TAB>value`."""
    pairs: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.strip():
            name, _, value = line.partition("\t")
            pairs[name] = value
    return pairs
