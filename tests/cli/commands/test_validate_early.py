"""Prompted values are checked as they are typed, not after every prompt (real terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from tests.cli.conftest import PASSWORD, Run, token_pair, user
from tests.cli.fake_daemon import FakeDaemon, Reply


def answer_prompts(args: tuple[str, ...], env: dict[str, str], answers: list[bytes]) -> tuple[int, str]:
    """`gopherpay ARGS` on a pseudo-terminal, typing the next answer at each `: ` prompt."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "gopherpay_cli", *args],
            stdin=slave, stdout=slave, stderr=slave, env={**env, "NO_COLOR": "1"},
        )  # fmt: skip
    finally:
        os.close(slave)
    shown, pending = bytearray(), list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown.extend(chunk)
            if pending and shown.endswith(b": "):
                os.write(master, pending.pop(0))
        process.wait(timeout=60)
    finally:
        process.kill()
        os.close(master)
    return process.returncode, shown.decode().replace("\r\n", "\n")


def test_signup_checks_the_email_before_the_password_and_the_length_before_the_confirmation(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/auth/signup", Reply(201, user()))
    daemon.on("POST", "/v1/auth/login", Reply(200, token_pair()))
    typed = [b"alice.example.com\n", b"alice@example.com\n", b"Alice Liddell\n", b"short\n"]
    typed += [PASSWORD.encode() + b"\n", PASSWORD.encode() + b"\n"]

    code, shown = answer_prompts(("signup",), cli_env, typed)

    assert code == 0, shown
    assert shown.startswith(
        "Email: alice.example.com\n"
        "Error: 'alice.example.com' is not an email address (like alice@example.com)\n"
        "Email: alice@example.com\n"
        "Full name: Alice Liddell\n"
        "Password: \n"
        "Error: The password needs at least 8 characters. Try again.\n"
        "Password: \n"
        "Repeat for confirmation: \n"
    ), shown
    assert daemon.seen("POST", "/v1/auth/signup")[0].body["password"] == PASSWORD


def test_a_bad_email_flag_fails_before_the_password_is_asked(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("signup", "--email", "alice", "--name", "A", "--password-stdin", stdin=PASSWORD + "\n")

    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --email: 'alice' is not an email address (like alice@example.com)\n",
    )
    assert daemon.requests == []


def test_a_short_password_on_stdin_fails_before_anything_is_sent(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay(
        "signup", "--email", "alice@example.com", "--name", "A", "--password-stdin", stdin="short\n"
    )

    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --password-stdin: the password needs at least 8 characters\n",
    )
    assert daemon.requests == []
