"""Asking the user for input: prompts on stderr, passwords hidden or from stdin.

With `--no-input` every prompt is an error that names the flag to pass instead.
Passwords never come from a flag: a hidden prompt or `--password-stdin` only, and
`--password-stdin` only from a pipe or a file: a terminal would echo the password.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from gopherpay_cli.errors import UsageError
from gopherpay_cli.state import AppState


def value_or_prompt(state: AppState, value: str | None, *, flag: str, label: str) -> str:
    """`value` when given, else ask for it (or fail naming `flag` under --no-input)."""
    if value:
        return value
    _refuse_prompt_under_no_input(state, flag)
    answer: str = typer.prompt(label, err=True)
    return answer.strip()


def password_or_prompt(
    state: AppState, *, from_stdin: bool, label: str = "Password", confirm: bool = False
) -> str:
    """One password: a line of stdin with --password-stdin, else a hidden prompt."""
    if from_stdin:
        return read_stdin_passwords(["the password"])[0]
    return _hidden_prompt(state, label, confirm=confirm)


def password_pair_or_prompt(state: AppState, *, from_stdin: bool) -> tuple[str, str]:
    """Current and new password: two lines of stdin, or two hidden prompts."""
    if from_stdin:
        current, new = read_stdin_passwords(["the current password", "the new password"])
        return current, new
    current = _hidden_prompt(state, "Current password")
    return current, _hidden_prompt(state, "New password", confirm=True)


def read_stdin_passwords(labels: Sequence[str]) -> list[str]:
    """One line of stdin per label, each a password (only the line ending is removed).

    Refused when stdin is a terminal: it would show the password as it is typed, and
    the hidden prompt (without --password-stdin) is the way to type one.
    """
    if sys.stdin is None:
        raise UsageError("--password-stdin: stdin is closed, there is no password to read")
    if sys.stdin.isatty():
        raise UsageError(
            "--password-stdin reads from a pipe or a file, and stdin is a terminal, "
            "which would show the password as you type it",
            hint="Leave out --password-stdin to be asked for it without echo, or pipe it in.",
        )
    passwords = []
    for position, label in enumerate(labels, start=1):
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError(f"--password-stdin: expected {label} on line {position} of stdin")
        passwords.append(password)
    return passwords


def _hidden_prompt(state: AppState, label: str, *, confirm: bool = False) -> str:
    _refuse_prompt_under_no_input(state, "--password-stdin")
    if not sys.stdin.isatty():
        # getpass would fall back to echoing the password; a script must say --password-stdin.
        raise UsageError("no terminal to ask for a password on: pass it on stdin with --password-stdin")
    password: str = typer.prompt(label, hide_input=True, confirmation_prompt=confirm, err=True)
    return password


def _refuse_prompt_under_no_input(state: AppState, flag: str) -> None:
    if state.no_input:
        raise UsageError(f"{flag} is required when --no-input is set")
