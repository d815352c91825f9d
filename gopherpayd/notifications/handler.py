"""Handling one event: the in-app inbox, then Novu, exactly once per event id.

The same handler serves both transports: the Kafka worker and the in-process
dispatcher of the embedded default.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from gopherpayd.events import repository as event_repository
from gopherpayd.events.envelope import Event
from gopherpayd.events.models import DeadLetter
from gopherpayd.identity.verification import CodeUnreadable
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.notifications import messages
from gopherpayd.notifications import repository as inbox_repository
from gopherpayd.notifications.models import Notification
from gopherpayd.notifications.novu import DeliveryFailed, NovuGateway
from gopherpayd.outbox import catalog
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.notifications")


@dataclass(frozen=True)
class Outcome:
    status: str
    """`handled`, `duplicate` or `dead-lettered`."""
    reason: str | None = None
    attempts: int = 0

    @property
    def dead_lettered(self) -> bool:
        return self.status == "dead-lettered"


class NotificationHandler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        novu: NovuGateway | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._db = db
        self._settings = settings
        self._novu = novu
        self._sleep = sleep

    def handle(self, event: Event, topic: str) -> Outcome:
        if not self._db.run(self._write_inbox, event):
            return Outcome("duplicate")
        kind = catalog.kind_of(event.type)
        attempts = 0
        if self._novu is not None and kind.workflow is not None:
            attempts, failure = self._deliver(kind.workflow, event)
            if failure is not None:
                self._db.run(self._park, event, topic, failure, attempts)
                return Outcome("dead-lettered", failure, attempts)
        self._db.run(self._mark_handled, event)
        return Outcome("handled", attempts=attempts)

    def _mark_handled(self, session: Session, event: Event) -> None:
        event_repository.mark_processed(session, event.id, utcnow())

    def _write_inbox(self, session: Session, event: Event) -> bool:
        """False when the event was already handled; else its inbox entry exists afterwards."""
        if event_repository.is_processed(session, event.id):
            return False
        if catalog.kind_of(event.type).inbox and not inbox_repository.exists_for_event(session, event.id):
            title, body = messages.inbox_message(event)
            inbox_repository.add(
                session,
                Notification(
                    user_id=uuid.UUID(event.user_id),
                    event_id=event.id,
                    event_type=event.type,
                    title=title[:200],
                    body=body[:1000],
                    data=json.dumps(event.payload, sort_keys=True),
                    created_at=event.created_at,
                ),
            )
        return True

    def _deliver(self, workflow: str, event: Event) -> tuple[int, str | None]:
        """Trigger with bounded exponential backoff; (attempts, last failure or None)."""
        assert self._novu is not None
        try:
            payload = messages.novu_payload(event, self._settings)
        except CodeUnreadable as error:
            logger.error("event %s: %s", event.id, error)
            return 0, str(error)
        delay = self._settings.delivery_backoff_initial
        failure = None
        for attempt in range(1, self._settings.delivery_max_attempts + 1):
            try:
                self._novu.trigger(workflow, event, payload, attempt)
                return attempt, None
            except DeliveryFailed as error:
                failure = str(error)
                logger.warning("event %s: delivery attempt %d failed: %s", event.id, attempt, failure)
            if attempt < self._settings.delivery_max_attempts:
                self._sleep(delay)
                delay = min(delay * 2, self._settings.delivery_backoff_max)
        return self._settings.delivery_max_attempts, failure

    def _park(self, session: Session, event: Event, topic: str, reason: str, attempts: int) -> None:
        event_repository.add_dead_letter(
            session,
            DeadLetter(
                event_id=event.id,
                event_type=event.type,
                user_id=event.user_id,
                topic=topic,
                message=event.encode().decode(),
                reason=reason[:1000],
                attempts=attempts,
            ),
        )
