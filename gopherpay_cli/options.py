"""The arguments and options that commands of several sub-apps take, and the checks of their values.

The global options (--server, --profile, --json, --quiet, --no-input, --ca-bundle)
are declared once, on the root command in gopherpay_cli.main. An argument or option
used by the commands of one sub-app only is declared in that sub-app's module.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from gopherpay_cli.errors import UsageError
from gopherpay_cli.money import AmountError, parse_amount, parse_currency

MEMO_MAX_LENGTH = 280
IDEMPOTENCY_KEY_MAX_LENGTH = 200

AmountArgument = Annotated[str, typer.Argument(metavar="AMOUNT", help="Like 12.34 or 1,000.")]
CurrencyArgument = Annotated[str, typer.Argument(metavar="CURRENCY", help="ISO 4217 code, like USD.")]
IdempotencyKeyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        metavar="KEY",
        help="Reuse the key of an earlier attempt to retry it safely: the daemon "
        "does the request at most once per key. Default: a new random key.",
    ),
]


def memo_option(help_text: str) -> Any:
    """`--memo TEXT`, with what the memo is for in this command."""
    return typer.Option("--memo", metavar="TEXT", help=help_text)


def limit_option(help_text: str) -> Any:
    """`--limit N` (at least 1) for a list, with what is counted in this command.

    Any, as typer.Option itself answers: the same call also serves as a parameter's default.
    """
    return typer.Option("--limit", metavar="N", min=1, help=help_text)


def currency_code(text: str) -> str:
    """The upper-case code of a supported currency, or a usage error listing them."""
    try:
        return parse_currency(text).code
    except AmountError as error:
        raise UsageError(str(error)) from error


def amount_minor(amount: str, currency: str) -> int:
    """Minor units for the amount the user typed, or a usage error saying what is wrong."""
    try:
        return parse_amount(amount, currency)
    except AmountError as error:
        raise UsageError(str(error)) from error


def checked_memo(memo: str) -> str:
    """The memo, or a usage error when it is longer than the daemon accepts."""
    if len(memo) > MEMO_MAX_LENGTH:
        raise UsageError(f"--memo is at most {MEMO_MAX_LENGTH} characters, got {len(memo)}")
    return memo


def idempotency_key(given: str | None) -> str:
    """The given key after checking the API's rules, or a new uuid4 for this invocation."""
    if given is None:
        return str(uuid.uuid4())
    if not 1 <= len(given) <= IDEMPOTENCY_KEY_MAX_LENGTH or not (given.isascii() and given.isprintable()):
        raise UsageError(
            f"--idempotency-key must be 1-{IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters"
        )
    return given
