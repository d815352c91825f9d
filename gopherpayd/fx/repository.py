"""SQL for rates and quotes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from gopherpayd.fx.models import FxQuote, FxRate
from gopherpayd.kit.models import table_of


def get_rate(session: Session, sell: str, buy: str) -> FxRate | None:
    statement = select(FxRate).where(FxRate.sell_currency == sell, FxRate.buy_currency == buy)
    return session.exec(statement).first()


def list_rates(session: Session) -> list[FxRate]:
    statement = select(FxRate).order_by(col(FxRate.sell_currency), col(FxRate.buy_currency))
    return list(session.exec(statement).all())


def save_rate(session: Session, rate: FxRate) -> FxRate:
    session.add(rate)
    session.flush()
    return rate


def add_quote(session: Session, quote: FxQuote) -> FxQuote:
    session.add(quote)
    session.flush()
    return quote


def get_quote(session: Session, quote_id: uuid.UUID) -> FxQuote | None:
    return session.get(FxQuote, quote_id, populate_existing=True)


def mark_quote_used(
    session: Session, quote_id: uuid.UUID, user_id: uuid.UUID, transfer_id: uuid.UUID, now: datetime
) -> bool:
    """Use the quote if it is this user's, unused and unexpired: one conditional UPDATE, so of
    two transactions that try at once exactly one changes the row (the other, on Postgres,
    waits for the first's row lock, then finds used_at set; on SQLite writers take turns)."""
    quotes = table_of(FxQuote)
    result = session.execute(
        update(quotes)
        .where(
            quotes.c.id == quote_id,
            quotes.c.user_id == user_id,
            quotes.c.used_at.is_(None),
            quotes.c.expires_at > now,
        )
        .values(used_at=now, transfer_id=transfer_id)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
