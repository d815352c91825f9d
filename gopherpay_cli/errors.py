"""Exit codes and the errors that carry them.

Every failure the CLI reports is a `GopherPayError` with an exit code, a message
and, where the fix is obvious, a hint. The root command turns it into
`Error: <message>` (plus the hint) on stderr and exits with the code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    AUTH = 3
    REJECTED = 4
    NOT_FOUND = 5
    CONFLICT = 6
    UNREACHABLE = 7
    INTERRUPTED = 130
    """128 + SIGINT, as a shell reports a command that Ctrl-C stopped."""


EXIT_STATUS: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "success"),
    (ExitCode.FAILURE, "generic failure (unexpected server error, audit found violations)"),
    (
        ExitCode.USAGE,
        "usage error: bad arguments, amount or currency; request rejected as invalid; "
        "a confirmation needed with no terminal to ask on or with --no-input (pass --yes)",
    ),
    (
        ExitCode.AUTH,
        "authentication required or failed: log in, wrong password, too many attempts, admin only",
    ),
    (
        ExitCode.REJECTED,
        "rejected by a business rule: insufficient funds, frozen, closed, taken, unverified email, bad code, "
        "no exchange rate, quote expired or used",
    ),
    (
        ExitCode.NOT_FOUND,
        "not found: no such user, recipient, wallet, transfer, session, notification or dead letter",
    ),
    (ExitCode.CONFLICT, "conflict: idempotency key reused for a different request"),
    (ExitCode.UNREACHABLE, "daemon unreachable: connection refused or lost, timeout, TLS failure"),
    (ExitCode.INTERRUPTED, "interrupted by Ctrl-C"),
)
"""One line per exit code, shared by `gopherpay --help` and the man page."""

CONFLICT_CODES = frozenset({"idempotency_key_reused", "idempotency_request_in_progress"})

REJECTED_CODES = frozenset(
    {
        "insufficient_funds",
        "hold_action_forbidden",
        "hold_expired",
        "hold_not_open",
        "hold_amount_exceeded",
        "account_frozen",
        "wallet_frozen",
        "recipient_frozen",
        "self_transfer",
        "wallet_not_empty",
        "wallet_exists",
        "email_taken",
        "already_reversed",
        "not_reversible",
        "operator_own_account",
        "wallet_closed",
        "unsupported_currency",
        "currency_mismatch",
        "email_not_verified",
        "invalid_verification_code",
        "verification_code_expired",
        "already_verified",
        "same_currency",
        "fx_rate_unavailable",
        "fx_amount_too_small",
        "fx_amount_too_large",
        "quote_expired",
        "quote_used",
    }
)

LOGIN_AGAIN = "Run: gopherpay login"
RESEND_CODE = "gopherpay verify --resend"

DEFAULT_HINTS: dict[str, str] = {
    "authentication_required": LOGIN_AGAIN,
    "invalid_token": LOGIN_AGAIN,
    "token_expired": LOGIN_AGAIN,
    "session_revoked": LOGIN_AGAIN,
    "invalid_refresh_token": LOGIN_AGAIN,
    "refresh_token_reused": LOGIN_AGAIN,
    "forbidden": (
        "Operator commands need an admin account. Log in as one under a profile of its own "
        "(gopherpay --profile ops login), then run: gopherpay --profile ops admin …"
    ),
    "account_frozen": "Contact your GopherPay operator to lift the freeze.",
    "wallet_frozen": "Contact your GopherPay operator to lift the freeze.",
    "email_taken": "Log in instead: gopherpay login",
    "idempotency_key_reused": (
        "That key was used for a different request. Leave out --idempotency-key to get a new one."
    ),
    "idempotency_request_in_progress": (
        "The daemon is still working on that request. Try again shortly with the same key."
    ),
    "insufficient_funds": "Check your balance: gopherpay balance",
    "wallet_not_empty": "Move the money out first: gopherpay transfer AMOUNT CURRENCY --to EMAIL",
    "session_not_found": "See your sessions: gopherpay sessions list",
    "transfer_not_found": "See your transfers: gopherpay history",
    "email_not_verified": f"Verify your email first: gopherpay verify CODE (or {RESEND_CODE})",
    "invalid_verification_code": f"Check the code in the email, or get a new one: {RESEND_CODE}",
    "verification_code_expired": f"Get a new code: {RESEND_CODE}",
}


class GopherPayError(Exception):
    """A failure to report to the user: message, exit code and an optional hint."""

    def __init__(self, message: str, exit_code: ExitCode, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


class UsageError(GopherPayError):
    """Bad input caught before anything was sent (exit code 2)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, ExitCode.USAGE, hint)


class DaemonUnreachable(GopherPayError):
    """The daemon could not be reached or the connection broke (exit code 7).

    `transient` is False when trying again cannot help (an untrusted certificate).
    """

    def __init__(self, message: str, hint: str | None = None, *, transient: bool = True) -> None:
        super().__init__(message, ExitCode.UNREACHABLE, hint)
        self.transient = transient


class ApiError(GopherPayError):
    """An RFC 9457 problem answered by the daemon."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field_errors: tuple[str, ...] = (),
        retry_after: int | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, exit_code_for(status, code), _default_hint(code, retry_after))
        self.status = status
        self.code = code
        self.detail = detail
        self.field_errors = field_errors
        self.retry_after = retry_after
        self.problem = problem
        """The problem document as the daemon sent it (what `--json` prints on stderr)."""


def exit_code_for(status: int, code: str) -> ExitCode:
    """The exit code for a problem answered by the daemon."""
    if code in CONFLICT_CODES:
        return ExitCode.CONFLICT
    if code in REJECTED_CODES:
        return ExitCode.REJECTED
    if status in (401, 403) or code == "too_many_attempts":
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (400, 413, 422):
        return ExitCode.USAGE
    if status == 409:
        return ExitCode.REJECTED
    return ExitCode.FAILURE


def wait_text(retry_after: int | None) -> str:
    """How long a 429 answer asks to wait, in words."""
    return f"{retry_after} seconds" if retry_after is not None else "a while"


def _default_hint(code: str, retry_after: int | None) -> str | None:
    if code == "too_many_attempts":
        return f"Wait {wait_text(retry_after)} before trying again."
    return DEFAULT_HINTS.get(code)


@contextmanager
def hints(**hint_by_code: str | None) -> Iterator[None]:
    """Give daemon errors with these codes a hint that fits the command at hand."""
    try:
        yield
    except ApiError as error:
        if hint_by_code.get(error.code):
            error.hint = hint_by_code[error.code]
        raise
