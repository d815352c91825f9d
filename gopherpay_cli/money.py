"""Conversion between human amounts ("1,234.56 USD") and integer minor units.

This is the only place in the CLI that turns text into money or money into
text. It works with `decimal.Decimal` on exact values; a float never gets in.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

from gopherpayd.wallets.currencies import CURRENCIES, Currency, format_minor, get_currency

MAX_MINOR_DIGITS = 18
"""Amounts are stored as BIGINT; 18 digits keep every amount below 2**63 - 1."""

MAX_AMOUNT_MINOR = 10**MAX_MINOR_DIGITS - 1

# Plain digits, or digits grouped in threes by commas; an optional fraction.
_AMOUNT_PATTERN = re.compile(r"(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?|\.\d+")


class AmountError(ValueError):
    """An amount or currency the user typed cannot be used."""


def supported_codes() -> str:
    """The supported currency codes, comma-separated, for error messages."""
    return ", ".join(sorted(CURRENCIES))


def parse_currency(text: str) -> Currency:
    """The supported currency named by `text`, case-insensitively."""
    code = text.strip().upper()
    currency = get_currency(code)
    if currency is None:
        raise AmountError(f"Unsupported currency {text.strip()!r}. Supported: {supported_codes()}")
    return currency


def parse_amount(text: str, currency_code: str) -> int:
    """Minor units for a human amount: `parse_amount("12.34", "USD") == 1234`."""
    currency = parse_currency(currency_code)
    typed = text.strip()
    if typed.startswith("-") and _AMOUNT_PATTERN.fullmatch(typed[1:]):
        raise AmountError(f"The amount must be greater than zero: {typed}")
    if not _AMOUNT_PATTERN.fullmatch(typed):
        raise AmountError(f"Not an amount: {typed!r}. Write it like 1234.56 or 1,234.56")
    digits = typed.replace(",", "")
    integer_part = digits.split(".")[0].lstrip("0")
    if len(integer_part) + currency.exponent > MAX_MINOR_DIGITS:
        raise _too_large(typed, currency)
    with localcontext() as context:
        # Enough precision for every accepted input, so nothing is ever rounded.
        context.prec = len(digits) + currency.exponent + 2
        minor = Decimal(digits).scaleb(currency.exponent)
    if minor != minor.to_integral_value():
        raise _too_many_decimals(typed, currency)
    amount_minor = int(minor)
    if amount_minor <= 0:
        raise AmountError(f"The amount must be greater than zero: {typed}")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise _too_large(typed, currency)
    return amount_minor


def format_amount(amount_minor: int, currency_code: str) -> str:
    """A human amount for minor units: `format_amount(1234, "USD") == "12.34 USD"`."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool):
        raise TypeError(f"amounts are integers in minor units, got {amount_minor!r}")
    if get_currency(currency_code) is None:
        # A currency the daemon knows and this CLI does not: show what we are sure of.
        return f"{amount_minor:,} {currency_code} (minor units)"
    # The daemon's own formatter (exact integer arithmetic), so both sides print alike.
    return format_minor(amount_minor, currency_code)


def _too_many_decimals(typed: str, currency: Currency) -> AmountError:
    if currency.exponent == 0:
        return AmountError(
            f"{currency.code} has no minor unit: {typed} is not a whole number of {currency.code}"
        )
    return AmountError(f"{currency.code} amounts have at most {currency.exponent} decimals: {typed}")


def _too_large(typed: str, currency: Currency) -> AmountError:
    largest = format_amount(MAX_AMOUNT_MINOR, currency.code)
    return AmountError(f"The amount is too large: {typed} {currency.code} (at most {largest})")
