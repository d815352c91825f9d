"""SQL for wallets."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Row, case, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gopherpayd.kit.db import insert_rows
from gopherpayd.kit.models import table_of
from gopherpayd.vocabulary import WalletKind
from gopherpayd.wallets.models import Wallet


def add(session: Session, wallet: Wallet) -> Wallet:
    session.add(wallet)
    session.flush()
    return wallet


def get(session: Session, wallet_id: uuid.UUID) -> Wallet | None:
    return session.get(Wallet, wallet_id)


def get_open_user_wallet(session: Session, owner_id: uuid.UUID, currency: str) -> Wallet | None:
    query = select(Wallet).where(
        Wallet.owner_id == owner_id,
        Wallet.currency == currency,
        Wallet.kind == WalletKind.USER,
        col(Wallet.closed_at).is_(None),
    )
    return session.exec(query).first()


def list_open_user_wallets(session: Session, owner_ids: Iterable[uuid.UUID]) -> list[Wallet]:
    query = select(Wallet).where(col(Wallet.owner_id).in_(list(owner_ids)), col(Wallet.closed_at).is_(None))
    return list(session.exec(query.order_by(col(Wallet.currency))).all())


def page_open_user_wallets(
    session: Session, owner_id: uuid.UUID, after_code: str | None, limit: int
) -> list[Wallet]:
    """Up to `limit` of the user's open wallets, A to Z by currency (one open wallet per
    currency, so the code is a unique key), after `after_code` if given."""
    query = select(Wallet).where(Wallet.owner_id == owner_id, col(Wallet.closed_at).is_(None))
    if after_code is not None:
        query = query.where(col(Wallet.currency) > after_code)
    return list(session.exec(query.order_by(col(Wallet.currency)).limit(limit)).all())


def list_all_wallet_ids_of(session: Session, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """Every wallet the user ever had, closed ones included (their history stays theirs)."""
    return list(session.exec(select(Wallet.id).where(Wallet.owner_id == owner_id)).all())


def get_system_wallet(session: Session, currency: str) -> Wallet | None:
    query = select(Wallet).where(Wallet.kind == WalletKind.SYSTEM, Wallet.currency == currency)
    return session.exec(query).first()


def lock_in_id_order(session: Session, wallet_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Wallet]:
    """Lock wallets, always in ascending id order so opposite transfers cannot deadlock.

    `populate_existing` makes the rows read under the lock win over anything the
    session cached before it.
    """
    ordered = sorted(set(wallet_ids))
    query = (
        select(Wallet)
        .where(col(Wallet.id).in_(ordered))
        .order_by(col(Wallet.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {wallet.id: wallet for wallet in session.exec(query).all()}


WALLETS = table_of(Wallet)


def lock_rows_in_id_order(session: Session, wallet_ids: Iterable[uuid.UUID]) -> list[Row[Any]]:
    """Lock wallets in one statement, in ascending id order, and read what can change under
    the lock: (id, balance, held, frozen, closed_at). Plain rows: the ORM's copies are left alone.
    FOR NO KEY UPDATE (Postgres): exclusive against every other writer of the row, but not
    against a transaction whose rows merely reference the wallet by foreign key."""
    ordered = sorted(set(wallet_ids))
    if not ordered:
        return []
    c = WALLETS.c
    query = (
        sa_select(c.id, c.balance, c.held, c.frozen, c.closed_at)
        .where(c.id.in_(ordered))
        .order_by(c.id)
        .with_for_update(key_share=True)
    )
    return list(session.execute(query).all())


def insert_opened(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert wallets opened by a batch (every column given) in one statement."""
    if rows:
        insert_rows(session, WALLETS, rows)


def set_balances(
    session: Session, balances: Mapping[uuid.UUID, int], held: Mapping[uuid.UUID, int] | None = None
) -> None:
    """Set many locked wallets' balances, and the held amounts that changed, in one statement:
    one statement, so the CHECK on balance - held sees both new values together (SQLite checks
    each row as each statement writes it)."""
    held = held or {}
    if not balances and not held:
        return
    c = WALLETS.c
    ids = sorted(set(balances) | set(held))
    values: dict[str, Any] = {}
    if balances:
        values["balance"] = case(
            *[(c.id == wallet_id, balances[wallet_id]) for wallet_id in sorted(balances)], else_=c.balance
        )
    if held:
        values["held"] = case(
            *[(c.id == wallet_id, held[wallet_id]) for wallet_id in sorted(held)], else_=c.held
        )
    session.execute(update(WALLETS).where(c.id.in_(ids)).values(values))
