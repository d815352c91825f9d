"""FX arithmetic: the one rounding rule, in the house's favour, and the decimal texts of rates.

A rate is how many units of the buy currency one unit of the sell currency buys, in major
units (USD->EUR 0.9213: 1 USD buys 0.9213 EUR), an exact `Decimal`. The spread is a
fraction in [0, 0.5) (0.005 is 0.5 %). Every computation below is exact: amounts times
rates are `fractions.Fraction`s, and the only roundings are the two functions
`customer_pays` (up) and `customer_receives` (down), so the house never loses a minor unit
to rounding.

How a quote's amounts follow from the rate `r` (converted to minor units of both
currencies), the spread `s`, and the one amount the customer gave:

- The customer gives the sell amount S (what they pay, sell minor units):
  fee F = customer_pays(S * s); exchanged X = S - F;
  buy amount B = customer_receives(X * r).
- The customer gives the buy amount B (what the recipient gets, buy minor units):
  exchanged X = customer_pays(B / r), the fewest sell minor units that buy B;
  sell amount S = customer_pays(X / (1 - s)), the fewest that leave X after the spread;
  fee F = S - X (at least S * s: whatever a minor unit cannot split goes to the house).

In both cases S == X + F, F >= S * s and B <= X * r: the house gains F in the sell currency
(the revenue leg) and X * r - B on the exchange, both never negative, and each by less than
one minor unit beyond the exact spread. The legs of a quote (payer -> house X, payer ->
revenue F, in the sell currency; house -> recipient B, in the buy currency) sum to zero
per currency.

This module imports nothing of the daemon but the currency table, so the CLI may use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

MAX_RATE_DECIMALS = 12
"""Digits after the decimal point a rate may have."""
MAX_RATE_DIGITS = 18
"""Significant digits a rate may have (before and after the point together)."""
MAX_SPREAD_DECIMALS = 6
"""Digits after the decimal point of the spread as a fraction (0.000001 is 0.0001 %)."""
MAX_SPREAD = Decimal("0.5")
"""The spread is below this (50 %)."""
MAX_AMOUNT_MINOR = 10**18 - 1
"""The largest amount either side of a quote may have (BIGINT, as every amount)."""

MAX_TEXT_LENGTH = 40
"""The longest rate or spread text read at all."""
_DECIMAL_TEXT = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_EXACT = Context(prec=MAX_TEXT_LENGTH + 10)
"""Enough precision that normalizing a rate or spread never rounds it."""


class DecimalTextError(ValueError):
    """A rate or spread text that is not a plain, exact decimal in range."""


def customer_pays(value: Fraction) -> int:
    """What the customer pays, in minor units: rounded up."""
    return math.ceil(value)


def customer_receives(value: Fraction) -> int:
    """What the customer receives, in minor units: rounded down."""
    return math.floor(value)


def minor_rate(rate: Decimal, sell_exponent: int, buy_exponent: int) -> Fraction:
    """Buy minor units per sell minor unit: USD->JPY 150 is 1.5 yen per cent."""
    return Fraction(rate) * Fraction(10) ** (buy_exponent - sell_exponent)


@dataclass(frozen=True)
class QuoteAmounts:
    sell_amount: int
    """What the payer pays in all, sell minor units: exchanged + fee."""
    fee: int
    """The spread, sell minor units, to the revenue wallet."""
    exchanged: int
    """The part of sell_amount the FX house receives and converts, sell minor units."""
    buy_amount: int
    """What the recipient receives, buy minor units, from the FX house."""


def amounts_for_sell(
    sell_amount: int, rate: Decimal, spread: Decimal, sell_exponent: int, buy_exponent: int
) -> QuoteAmounts:
    """The quote for a customer who pays `sell_amount` sell minor units."""
    fee = customer_pays(sell_amount * Fraction(spread))
    exchanged = sell_amount - fee
    buy_amount = customer_receives(exchanged * minor_rate(rate, sell_exponent, buy_exponent))
    return QuoteAmounts(sell_amount=sell_amount, fee=fee, exchanged=exchanged, buy_amount=buy_amount)


def amounts_for_buy(
    buy_amount: int, rate: Decimal, spread: Decimal, sell_exponent: int, buy_exponent: int
) -> QuoteAmounts:
    """The quote for a customer whose recipient is to receive `buy_amount` buy minor units."""
    exchanged = customer_pays(buy_amount / minor_rate(rate, sell_exponent, buy_exponent))
    sell_amount = customer_pays(exchanged / (1 - Fraction(spread)))
    return QuoteAmounts(
        sell_amount=sell_amount, fee=sell_amount - exchanged, exchanged=exchanged, buy_amount=buy_amount
    )


def indicative_value(amount_minor: int, rate: Decimal, from_exponent: int, to_exponent: int) -> int:
    """An amount at the mid rate (no spread), for display only: what it would receive at most."""
    return customer_receives(amount_minor * minor_rate(rate, from_exponent, to_exponent))


def parse_rate(text: str) -> Decimal:
    """An exchange rate from its decimal text: > 0, at most 12 decimals and 18 digits."""
    value, digits, decimals = _plain_decimal(text, "rate")
    if value <= 0:
        raise DecimalTextError(f"the rate must be greater than zero, got {text}")
    if decimals > MAX_RATE_DECIMALS:
        raise DecimalTextError(f"a rate has at most {MAX_RATE_DECIMALS} decimals, got {text}")
    if digits > MAX_RATE_DIGITS:
        raise DecimalTextError(f"a rate has at most {MAX_RATE_DIGITS} digits, got {text}")
    return value


def parse_spread(text: str) -> Decimal:
    """A spread from its decimal text as a fraction (0.005), or as a percentage (0.5%)."""
    typed = text.strip()
    percent = typed.endswith("%")
    value, _digits, decimals = _plain_decimal(typed.removesuffix("%").strip(), "spread")
    if percent:
        value, decimals = value.scaleb(-2), decimals + 2
    if not 0 <= value < MAX_SPREAD:
        raise DecimalTextError(f"the spread must be at least 0 and below 50%, got {text}")
    if decimals > MAX_SPREAD_DECIMALS:
        raise DecimalTextError(
            f"a spread has at most {MAX_SPREAD_DECIMALS} decimals as a fraction "
            f"({MAX_SPREAD_DECIMALS - 2} as a percentage), got {text}"
        )
    return value


def decimal_text(value: Decimal) -> str:
    """The canonical text of an exact decimal: no exponent, no trailing zeros (0.9213, 150, 0)."""
    return format(value.normalize(_EXACT), "f")


def percent_text(spread: Decimal) -> str:
    """A spread fraction as a percentage: 0.005 -> 0.5%."""
    return decimal_text(spread.scaleb(2)) + "%"


def _plain_decimal(text: str, what: str) -> tuple[Decimal, int, int]:
    """The exact value of a plain decimal text, with its digits and decimals (leading and
    trailing zeros not counted), read from the text itself: nothing is rounded first."""
    typed = text.strip()
    if len(typed) > MAX_TEXT_LENGTH or not _DECIMAL_TEXT.fullmatch(typed):
        raise DecimalTextError(f"the {what} must be a plain decimal number like 0.9213, got {text!r}")
    whole, _point, fraction = typed.partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")
    digits = len((whole + fraction).lstrip("0")) if not whole else len(whole + fraction)
    return Decimal(typed), digits, len(fraction)
