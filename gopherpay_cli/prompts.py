"""Asking the user for input: prompts on stderr, passwords hidden or from stdin.

With `--no-input` every prompt is an error that names the flag to pass instead.
Passwords never come from a flag: a hidden prompt or `--password-stdin` only, and
`--password-stdin` only from a pipe or a file: a terminal would echo the password.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence

import typer
from typer._click.exceptions import UsageError as PromptRefusal

from gopherpay_cli.errors import UsageError
from gopherpay_cli.state import AppState

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_BYTES = 72
"""bcrypt's limit, which the daemon enforces too."""
EMAIL_SYNTAX = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

Check = Callable[[str], str | None]
"""A check of a typed value: None when it is fine, else what is wrong with it."""


def email_problem(email: str) -> str | None:
    """What is wrong with an email address's syntax, or None (the daemon checks it fully)."""
    if EMAIL_SYNTAX.fullmatch(email.strip()):
        return None
    return f"{email.strip()!r} is not an email address (like alice@example.com)"


def new_password_problem(password: str) -> str | None:
    """What is wrong with a new password's length, or None."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"The password needs at least {PASSWORD_MIN_LENGTH} characters"
    if len(password.encode()) > PASSWORD_MAX_BYTES:
        return f"The password can be at most {PASSWORD_MAX_BYTES} bytes"
    return None


def _checked(check: Check | None) -> Callable[[str], str]:
    """A click value_proc: a value that fails `check` is refused and asked for again."""

    def process(value: str) -> str:
        problem = check(value) if check is not None else None
        if problem is not None:
            raise PromptRefusal(problem)
        return value

    return process


def value_or_prompt(
    state: AppState, value: str | None, *, flag: str, label: str, check: Check | None = None
) -> str:
    """`value` when given, else ask for it (or fail naming `flag` under --no-input).

    `check` runs as soon as the value is known: a given value that fails it is a usage
    error before anything else is asked; a typed one is asked for again.
    """
    if value:
        if check is not None and (problem := check(value)) is not None:
            raise UsageError(f"{flag}: {problem[:1].lower()}{problem[1:]}")
        return value
    _refuse_prompt_under_no_input(state, flag)
    answer: str = typer.prompt(
        label, err=True, value_proc=_checked(lambda v: check(v.strip()) if check else None)
    )
    return answer.strip()


def password_or_prompt(
    state: AppState,
    *,
    from_stdin: bool,
    label: str = "Password",
    confirm: bool = False,
    check: Check | None = None,
) -> str:
    """One password: a line of stdin with --password-stdin, else a hidden prompt.

    `check` (a new password's length) runs on the typed password before the confirmation
    is asked for, and on the line of stdin before anything is sent.
    """
    if from_stdin:
        password = read_stdin_passwords(["the password"])[0]
        if check is not None and (problem := check(password)) is not None:
            raise UsageError(f"--password-stdin: {problem[:1].lower()}{problem[1:]}")
        return password
    return _hidden_prompt(state, label, confirm=confirm, check=check)


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
        line = sys.stdin.readline()
        if not line and position == 1:
            raise UsageError(
                "--password-stdin: stdin is empty, there is no password to read",
                hint="Pipe it in, e.g.: printf '%s\\n' \"$PASSWORD\" | gopherpay … --password-stdin",
            )
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError(f"--password-stdin: expected {label} on line {position} of stdin")
        passwords.append(password)
    return passwords


def _hidden_prompt(state: AppState, label: str, *, confirm: bool = False, check: Check | None = None) -> str:
    _refuse_prompt_under_no_input(state, "--password-stdin")
    if not sys.stdin.isatty():
        # getpass would fall back to echoing the password; a script must say --password-stdin.
        raise UsageError("no terminal to ask for a password on: pass it on stdin with --password-stdin")
    while True:
        password: str = typer.prompt(label, hide_input=True, err=True)
        problem = check(password) if check is not None else None
        if problem is not None:
            # Said now, before the confirmation is typed for nothing.
            typer.echo(f"Error: {problem}. Try again.", err=True)
            continue
        if not confirm or typer.prompt("Repeat for confirmation", hide_input=True, err=True) == password:
            return password
        typer.echo("Error: The two passwords do not match. Try again.", err=True)


def _refuse_prompt_under_no_input(state: AppState, flag: str) -> None:
    if state.no_input:
        raise UsageError(f"{flag} is required when --no-input is set")
