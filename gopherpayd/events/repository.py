"""SQL for the outbox."""

from sqlalchemy import func
from sqlmodel import Session, col, select

from gopherpayd.events.models import OutboxEvent


def add_event(session: Session, event: OutboxEvent) -> None:
    session.add(event)


def count_unpublished(session: Session) -> int:
    query = select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.published_at).is_(None))
    return int(session.exec(query).one())
