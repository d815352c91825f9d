"""SQL for rates and quotes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, update
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


def lock_quotes(session: Session, quote_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, FxQuote]:
    """The quotes a batch executes, read under row locks taken in id order (Postgres; SQLite's
    writers take turns), so no other transaction uses one of them until this one ends."""
    wanted = sorted(set(quote_ids))
    if not wanted:
        return {}
    statement = (
        select(FxQuote)
        .where(col(FxQuote.id).in_(wanted))
        .order_by(col(FxQuote.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {quote.id: quote for quote in session.exec(statement).all()}


def mark_quotes_used(session: Session, used: dict[uuid.UUID, uuid.UUID], now: datetime) -> None:
    """Record each quote (key) as used by its transfer (value), in one statement; the quotes
    were locked and found unused by lock_quotes in this transaction."""
    if not used:
        return
    quotes = table_of(FxQuote)
    session.execute(
        update(quotes)
        .where(quotes.c.id == bindparam("quote"), quotes.c.used_at.is_(None))
        .values(used_at=now, transfer_id=bindparam("transfer")),
        [{"quote": quote_id, "transfer": transfer_id} for quote_id, transfer_id in used.items()],
    )


def get_quotes(session: Session, quote_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, FxQuote]:
    wanted = set(quote_ids)
    if not wanted:
        return {}
    return {
        quote.id: quote for quote in session.exec(select(FxQuote).where(col(FxQuote.id).in_(wanted))).all()
    }
