"""SQL for transfers, entries, idempotency records and history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, text, tuple_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gopherpayd.identity.models import User
from gopherpayd.kit.db import insert_rows
from gopherpayd.kit.models import table_of
from gopherpayd.kit.pagination import Cursor, newest_first
from gopherpayd.transfers.hold_rules import HoldState
from gopherpayd.transfers.models import Entry, Hold, IdempotencyRecord, Transfer
from gopherpayd.vocabulary import HoldStatus
from gopherpayd.wallets.models import Wallet


def insert_transfers(
    session: Session, transfers: list[dict[str, Any]], entries: list[dict[str, Any]]
) -> None:
    """Insert transfer rows, then their entries, one statement each (every column given)."""
    if transfers:
        insert_rows(session, table_of(Transfer), transfers)
    if entries:
        insert_rows(session, table_of(Entry), entries)


def insert_idempotency_records(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the records (every column given) in one statement; a key another transaction
    has taken aborts it."""
    if rows:
        insert_rows(session, table_of(IdempotencyRecord), rows)


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What an idempotency record keeps: the request's hash and the outcome's encoding."""

    request_hash: str
    status_code: int
    response_body: str


def get_idempotency_records(
    session: Session, scope_keys: list[tuple[str, str]]
) -> dict[tuple[str, str], StoredAnswer]:
    """The stored answers of these (scope, key) pairs, in one query."""
    if not scope_keys:
        return {}
    keys = table_of(IdempotencyRecord).c
    query = sa_select(keys.scope, keys.key, keys.request_hash, keys.status_code, keys.response_body).where(
        tuple_(keys.scope, keys.key).in_(sorted(set(scope_keys)))
    )
    return {
        (row.scope, row.key): StoredAnswer(row.request_hash, row.status_code, row.response_body)
        for row in session.execute(query).all()
    }


def get(session: Session, transfer_id: uuid.UUID) -> Transfer | None:
    return session.get(Transfer, transfer_id)


def get_reversal_of(session: Session, transfer_id: uuid.UUID) -> Transfer | None:
    query = select(Transfer).where(Transfer.reverses_transfer_id == transfer_id)
    return session.exec(query).first()


@dataclass(frozen=True)
class HistoryFilter:
    wallet_ids: list[uuid.UUID]
    currency: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def history(session: Session, spec: HistoryFilter, cursor: Cursor | None, limit: int) -> list[Transfer]:
    """Transfers touching the wallets, newest first, keyset-paginated."""
    if not spec.wallet_ids:
        return []
    incoming = col(Transfer.to_wallet_id).in_(spec.wallet_ids)
    outgoing = col(Transfer.from_wallet_id).in_(spec.wallet_ids)
    query = select(Transfer)
    if spec.direction == "in":
        query = query.where(incoming)
    elif spec.direction == "out":
        query = query.where(outgoing)
    else:
        query = query.where(or_(incoming, outgoing))
    if spec.currency:
        query = query.where(Transfer.currency == spec.currency)
    if spec.since:
        query = query.where(col(Transfer.created_at) >= spec.since)
    if spec.until:
        query = query.where(col(Transfer.created_at) < spec.until)
    query = newest_first(query, col(Transfer.created_at), col(Transfer.id), cursor)
    return list(session.exec(query.limit(limit)).all())


def wallets_with_owners(
    session: Session, wallet_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[Wallet, User | None]]:
    query = (
        select(Wallet, User)
        .join(User, col(User.id) == Wallet.owner_id, isouter=True)
        .where(col(Wallet.id).in_(list(set(wallet_ids))))
    )
    return {wallet.id: (wallet, user) for wallet, user in session.exec(query).all()}


def statement_wallet_ids(session: Session, owner_id: uuid.UUID, currency: str) -> list[uuid.UUID]:
    """Every wallet the user ever had in `currency`, closed ones included."""
    query = select(Wallet.id).where(Wallet.owner_id == owner_id, Wallet.currency == currency)
    return list(session.exec(query).all())


def balance_before(session: Session, wallet_ids: list[uuid.UUID], moment: datetime) -> int:
    """The wallets' combined balance just before `moment`: the sum of their earlier entries."""
    if not wallet_ids:
        return 0
    query = sa_select(func.coalesce(func.sum(Entry.amount), 0)).where(
        col(Entry.wallet_id).in_(wallet_ids), col(Entry.created_at) < moment
    )
    return int(session.execute(query).scalar_one())


def entries_between(
    session: Session, wallet_ids: list[uuid.UUID], since: datetime, until: datetime, limit: int
) -> list[tuple[Entry, Transfer]]:
    """The wallets' entries from `since` (included) to `until` (excluded), oldest first, each
    with its transfer; at most `limit`."""
    if not wallet_ids:
        return []
    query = (
        select(Entry, Transfer)
        .join(Transfer, col(Transfer.id) == Entry.transfer_id)
        .where(
            col(Entry.wallet_id).in_(wallet_ids),
            col(Entry.created_at) >= since,
            col(Entry.created_at) < until,
        )
        .order_by(col(Entry.created_at), col(Entry.id))
        .limit(limit)
    )
    return [(entry, transfer) for entry, transfer in session.exec(query).all()]


HOLDS = table_of(Hold)
_HOLD_STATE = ("captured", "released", "status", "expires_at", "updated_at")
"""What changes of a hold after it is placed."""


def read_holds(session: Session, hold_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, HoldState]:
    """The holds' current rows, in one query: read after their payer wallets are locked, by
    every writer of a hold alike, so nothing changes them until the batch commits."""
    wanted = sorted(set(hold_ids))
    if not wanted:
        return {}
    c = HOLDS.c
    rows = session.execute(sa_select(HOLDS).where(c.id.in_(wanted))).mappings().all()
    return {
        row["id"]: HoldState(
            id=row["id"],
            payer_wallet_id=row["payer_wallet_id"],
            payee_wallet_id=row["payee_wallet_id"],
            currency=row["currency"],
            amount=int(row["amount"]),
            captured=int(row["captured"]),
            released=int(row["released"]),
            status=row["status"],
            expires_at=row["expires_at"],
            memo=row["memo"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    }


def insert_holds(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert holds placed by a batch (every column given) in one statement."""
    if rows:
        insert_rows(session, HOLDS, rows)


def update_holds(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write the changed state of many holds in one statement: on Postgres an UPDATE from
    unnest() of one array per column (one round trip whatever the count), elsewhere one
    prepared statement run for every row, in process."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _UNNEST_HOLD_UPDATE,
            {"ids": [row["id"] for row in rows]}
            | {name: [row[name] for row in rows] for name in _HOLD_STATE},
        )
        return
    c = HOLDS.c
    statement = (
        update(HOLDS)
        .where(c.id == bindparam("hold_id"))
        .values({name: bindparam(f"new_{name}", type_=c[name].type) for name in _HOLD_STATE})
    )
    session.execute(
        statement,
        [{"hold_id": row["id"], **{f"new_{name}": row[name] for name in _HOLD_STATE}} for row in rows],
    )


_UNNEST_HOLD_UPDATE = text(
    "UPDATE holds SET captured = v.captured, released = v.released, status = v.status, "
    "expires_at = v.expires_at, updated_at = v.updated_at "
    "FROM unnest(CAST(:ids AS UUID[]), CAST(:captured AS BIGINT[]), CAST(:released AS BIGINT[]), "
    "CAST(:status AS VARCHAR[]), CAST(:expires_at AS TIMESTAMPTZ[]), CAST(:updated_at AS TIMESTAMPTZ[])) "
    "AS v(id, captured, released, status, expires_at, updated_at) WHERE holds.id = v.id"
)


def get_hold(session: Session, hold_id: uuid.UUID) -> Hold | None:
    return session.get(Hold, hold_id)


def holds_of(
    session: Session,
    wallet_ids: list[uuid.UUID],
    *,
    open_at: datetime | None,
    after: Cursor | None,
    limit: int,
) -> list[Hold]:
    """Holds paid from or to the wallets, newest first, keyset-paginated; `open_at`: only those
    still open and not expired at that moment."""
    if not wallet_ids:
        return []
    query = select(Hold).where(
        or_(col(Hold.payer_wallet_id).in_(wallet_ids), col(Hold.payee_wallet_id).in_(wallet_ids))
    )
    if open_at is not None:
        query = query.where(Hold.status == HoldStatus.OPEN, col(Hold.expires_at) >= open_at)
    query = newest_first(query, col(Hold.created_at), col(Hold.id), after)
    return list(session.exec(query.limit(limit)).all())


def expired_open_holds(session: Session, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(hold id, its placer) of open holds whose expiry has passed, oldest expiry first."""
    c = HOLDS.c
    query = (
        sa_select(c.id, c.created_by)
        .where(c.status == HoldStatus.OPEN, c.expires_at < now)
        .order_by(c.expires_at)
        .limit(limit)
    )
    return [(row.id, row.created_by) for row in session.execute(query).all()]
