"""SQL for writing the outbox: the user's event number, the event row, the wake-up."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BigInteger, String, Uuid, case, column, select, table, text, update
from sqlmodel import Session

from gopherpayd.kit.db import insert_rows
from gopherpayd.kit.models import table_of
from gopherpayd.outbox.models import OutboxEvent

NOTIFY_CHANNEL = "gopherpay_events"
NOTIFY_IDS_PER_PAYLOAD = 200
"""User ids per NOTIFY payload, comma-separated: 200 of 36 characters stay under Postgres's 8000 bytes."""

# The users' event counter, named by its columns: identity's models sit above this package.
USERS = table("users", column("id", Uuid), column("email", String), column("event_seq", BigInteger))


def take_user_seqs(session: Session, counts: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, tuple[int, str]]:
    """Take `counts[user]` event numbers for each user at once: the first number and the email.

    The users are locked in id order first (on Postgres), so two batches numbering the same
    users cannot deadlock on each other; one UPDATE then moves every counter.
    """
    if not counts:
        return {}
    session.flush()  # a user added in this transaction must be in the table to be numbered
    ids = sorted(counts)
    if session.get_bind().dialect.name == "postgresql":
        # FOR NO KEY UPDATE: what the UPDATE below takes anyway; it does not wait for the
        # transactions that merely reference these users (an inbox entry's foreign key).
        in_id_order = select(USERS.c.id).where(USERS.c.id.in_(ids)).order_by(USERS.c.id)
        session.execute(in_id_order.with_for_update(key_share=True))
    step = case(*[(USERS.c.id == user_id, counts[user_id]) for user_id in ids])
    statement = (
        update(USERS)
        .where(USERS.c.id.in_(ids))
        .values(event_seq=USERS.c.event_seq + step)
        .returning(USERS.c.id, USERS.c.event_seq, USERS.c.email)
    )
    return {
        row.id: (int(row.event_seq) - counts[row.id] + 1, str(row.email))
        for row in session.execute(statement).all()
    }


def add_event_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (every column given) in one statement."""
    if rows:
        insert_rows(session, table_of(OutboxEvent), rows)


def notify_listeners_of(session: Session, user_ids: Iterable[uuid.UUID]) -> None:
    """One NOTIFY for many users (a comma-separated payload), delivered at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({str(user_id) for user_id in user_ids})
    for start in range(0, len(ids), NOTIFY_IDS_PER_PAYLOAD):
        payload = ",".join(ids[start : start + NOTIFY_IDS_PER_PAYLOAD])
        session.execute(text("SELECT pg_notify(:channel, :ids)"), {"channel": NOTIFY_CHANNEL, "ids": payload})
