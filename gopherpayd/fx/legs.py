"""The movement a quote makes when it is executed, as legs between four parties.

Execution (a transfer with a quote_id, or an exchange between one's own wallets) writes these
legs in one transaction, each as an entry pair: in the sell currency the payer pays the FX
house the exchanged part and the revenue wallet the fee; in the buy currency the FX house
pays the recipient. Each currency's legs sum to zero (tests/fx/test_rounding.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Party(StrEnum):
    PAYER = "payer"
    """The customer's wallet in the sell currency."""
    HOUSE = "house"
    """The FX house wallet of the currency: it buys the sell currency and sells the buy currency."""
    REVENUE = "revenue"
    """The revenue wallet of the sell currency: the fee (the spread)."""
    RECIPIENT = "recipient"
    """The recipient's wallet in the buy currency (the payer's own for an exchange)."""


@dataclass(frozen=True)
class Leg:
    source: Party
    target: Party
    currency: str
    amount: int
    """Minor units of `currency` moving from source to target; >= 0 (a zero fee moves nothing)."""


def quote_legs(sell: str, buy: str, sell_amount: int, fee: int, buy_amount: int) -> list[Leg]:
    """The legs of a quote (an FxQuote's columns, or rounding.QuoteAmounts)."""
    return [
        Leg(Party.PAYER, Party.HOUSE, sell, sell_amount - fee),
        Leg(Party.PAYER, Party.REVENUE, sell, fee),
        Leg(Party.HOUSE, Party.RECIPIENT, buy, buy_amount),
    ]
