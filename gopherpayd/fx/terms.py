"""A quote's terms, which never change once it is made, and the recent ones this process made.

Executing a quote needs its terms (both amounts, the fee, the currencies) before its movement
can be built; the movement's batch then reads the quote again under its row lock and decides
whether it may still be used. The terms a process has just quoted are kept here, so the
request that executes one (usually a few seconds later, on the same daemon) need not read it
back first: a lookup that misses (another process made it, or it was pushed out) reads the
database as before. Nothing here decides anything: the batch compares these terms with the
locked row and refuses a quote that is not the caller's, used or expired.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from gopherpayd.fx.models import FxQuote

RECENT_CAPACITY = 20_000
"""Quotes kept per process: at 30 s each, far more than a daemon makes while they are usable."""


@dataclass(frozen=True, slots=True)
class QuoteTerms:
    id: uuid.UUID
    user_id: uuid.UUID
    sell_currency: str
    sell_amount: int
    buy_currency: str
    buy_amount: int
    fee: int
    rate: str
    spread: str

    @classmethod
    def of(cls, quote: FxQuote) -> QuoteTerms:
        return cls(
            id=quote.id,
            user_id=quote.user_id,
            sell_currency=quote.sell_currency,
            sell_amount=quote.sell_amount,
            buy_currency=quote.buy_currency,
            buy_amount=quote.buy_amount,
            fee=quote.fee,
            rate=quote.rate,
            spread=quote.spread,
        )


class RecentQuotes:
    """The terms of the last RECENT_CAPACITY quotes made here, by id (oldest pushed out first)."""

    def __init__(self, capacity: int = RECENT_CAPACITY) -> None:
        self._capacity = capacity
        self._terms: OrderedDict[uuid.UUID, QuoteTerms] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, terms: QuoteTerms) -> None:
        with self._lock:
            self._terms[terms.id] = terms
            while len(self._terms) > self._capacity:
                self._terms.popitem(last=False)

    def get(self, quote_id: uuid.UUID) -> QuoteTerms | None:
        with self._lock:
            return self._terms.get(quote_id)


RECENT = RecentQuotes()
