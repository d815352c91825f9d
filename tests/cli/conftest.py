"""Fixtures for the CLI's own tests: an isolated home, a fake daemon, and the real executable."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.fake_daemon import FakeDaemon, Reply

ALICE_ID = "0b8f2a52-5b0e-4d5e-9d6c-4f1f6b0a1a01"
BOB_ID = "0b8f2a52-5b0e-4d5e-9d6c-4f1f6b0a1a02"
SESSION_ID = "5e55e55e-0000-4000-8000-000000000001"
TRANSFER_ID = "7f3a9c1e-1111-4000-8000-000000000001"
ALICE_USD_WALLET = "a11ce000-0000-4000-8000-000000000001"
BOB_USD_WALLET = "b0b00000-0000-4000-8000-000000000001"
PASSWORD = "correct horse battery staple"
AS_ALICE = {"GOPHERPAY_TOKEN": "access-1"}
"""Environment of a script authenticated by GOPHERPAY_TOKEN, for tests not about stored logins."""


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def user(
    email: str = "alice@example.com",
    user_id: str = ALICE_ID,
    role: str = "user",
    email_verified: bool = False,
) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": email,
        "full_name": "Alice Liddell",
        "role": role,
        "frozen": False,
        "email_verified": email_verified,
        "created_at": "2026-11-26T16:34:27.123456Z",
    }


def token_pair(access: str = "access-1", refresh: str = "refresh-1") -> dict[str, Any]:
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": 900,
        "session_id": SESSION_ID,
        "user": user(),
    }


def party(email: str | None, wallet_id: str, user_id: str | None) -> dict[str, Any]:
    return {
        "wallet_id": wallet_id,
        "user_id": user_id,
        "email": email,
        "full_name": None,
        "system": email is None,
    }


def transfer(
    amount: int = 1234,
    currency: str = "USD",
    direction: str | None = "out",
    transfer_id: str = TRANSFER_ID,
    memo: str | None = "lunch",
    kind: str = "transfer",
    created_at: str = "2026-11-26T16:34:27.123456Z",
) -> dict[str, Any]:
    alice = party("alice@example.com", ALICE_USD_WALLET, ALICE_ID)
    bob = party("bob@example.com", BOB_USD_WALLET, BOB_ID)
    sender, recipient = (alice, bob) if direction != "in" else (bob, alice)
    return {
        "id": transfer_id,
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "sender": sender,
        "recipient": recipient,
        "memo": memo,
        "reverses_transfer_id": None,
        "created_at": created_at,
        "direction": direction,
    }


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    fake = FakeDaemon()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A private home: config, data and keyring files all live under it."""
    for name in ("home", "config", "data"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
def cli_env(home: Path, daemon: FakeDaemon) -> dict[str, str]:
    """The environment of a user with no keyring backend, pointed at the fake daemon."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GOPHERPAY_", "PYTHON_KEYRING", "XDG_"))
        and name not in ("NO_COLOR", "COLUMNS", "LINES")
    }
    env.update(
        HOME=str(home / "home"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        GOPHERPAY_SERVER=daemon.url,
        # Times are shown in the local zone: UTC here unless a test picks another one.
        TZ="UTC",
    )
    return env


@pytest.fixture
def gopherpay(cli_env: dict[str, str]) -> Callable[..., Run]:
    """Run the real `gopherpay` (python -m gopherpay_cli) as a user would."""

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
        completed = subprocess.run(
            [sys.executable, "-m", "gopherpay_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**cli_env, **(env or {})},
            timeout=60,
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def logged_in(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> Run:
    """Alice logged in through the real `gopherpay login` (tokens access-1 / refresh-1)."""
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))
    result = gopherpay(
        "--quiet", "login", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.stderr
    daemon.requests.clear()
    return result
