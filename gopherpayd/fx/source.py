"""Where rates come from: one interface, so that a market provider can be plugged in later.

Quotes ask a `RateSource` for the rate of a pair at a moment; the operators' table
(`OperatorRates`, filled through `gopherpay admin rates set` and the rates file) is the one
implementation today. A provider would be another class with the same `rate` method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlmodel import Session

from gopherpayd.fx import repository
from gopherpayd.fx.models import FxRate


@dataclass(frozen=True)
class Rate:
    sell: str
    buy: str
    rate: Decimal
    """Buy major units per sell major unit, exact."""
    spread: Decimal
    """Fraction in [0, 0.5)."""
    valid_until: datetime | None
    source: str

    @classmethod
    def of(cls, row: FxRate) -> Rate:
        return cls(
            sell=row.sell_currency,
            buy=row.buy_currency,
            rate=Decimal(row.rate),
            spread=Decimal(row.spread),
            valid_until=row.valid_until,
            source=row.source,
        )

    def valid_at(self, at: datetime) -> bool:
        return self.valid_until is None or at < self.valid_until


class RateSource(Protocol):
    def rate(self, sell: str, buy: str, at: datetime) -> Rate | None:
        """The rate to sell `sell` for `buy` at `at`, or None when there is none valid then."""
        ...


class OperatorRates:
    """The rates operators set, read from the fx_rates table in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def rate(self, sell: str, buy: str, at: datetime) -> Rate | None:
        row = repository.get_rate(self.session, sell, buy)
        if row is None:
            return None
        found = Rate.of(row)
        return found if found.valid_at(at) else None
