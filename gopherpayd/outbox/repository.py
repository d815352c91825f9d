"""SQL for writing the outbox: the user's event number, the event row, the wake-up."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, String, Uuid, column, table, text, update
from sqlmodel import Session

from gopherpayd.outbox.models import OutboxEvent

NOTIFY_CHANNEL = "gopherpay_events"

# The users' event counter, named by its columns: identity's models sit above this package.
USERS = table("users", column("id", Uuid), column("email", String), column("event_seq", BigInteger))


def add_event(session: Session, event: OutboxEvent) -> None:
    session.add(event)


def next_user_seq(session: Session, user_id: uuid.UUID) -> tuple[int, str]:
    """Take the user's next event number; the row lock keeps numbers in commit order."""
    session.flush()  # a user added in this transaction must be in the table to be numbered
    statement = (
        update(USERS)
        .where(USERS.c.id == user_id)
        .values(event_seq=USERS.c.event_seq + 1)
        .returning(USERS.c.event_seq, USERS.c.email)
    )
    seq, email = session.execute(statement).one()
    return int(seq), str(email)


def notify_listeners(session: Session, user_id: uuid.UUID) -> None:
    """Postgres delivers this at commit to every daemon listening (the live streams)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :user_id)"), {"channel": NOTIFY_CHANNEL, "user_id": str(user_id)}
        )
