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


_Parked = tuple[Event, str, str, int]
"""An event Novu refused for good: (event, topic, reason, attempts)."""


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
        return self.handle_many([(event, topic)])[0]

    def handle_many(self, events: list[tuple[Event, str]]) -> list[Outcome]:
        """Handle (event, topic) pairs in their order, in two transactions for all of them:
        the inbox entries first, then (after Novu, one event at a time) the marks that they
        are handled and the dead letters. An event handled before, or earlier in the same
        list, is a duplicate. A crash between the two leaves events unmarked: handled again,
        their inbox entry is not written twice."""
        if not events:
            return []
        fresh = self._db.run(self._write_inboxes, [event for event, _topic in events])
        outcomes: list[Outcome] = []
        handled: list[uuid.UUID] = []
        parked: list[_Parked] = []
        for event, topic in events:
            if event.id not in fresh:
                outcomes.append(Outcome("duplicate"))
                continue
            fresh.discard(event.id)
            kind = catalog.kind_of(event.type)
            attempts = 0
            if self._novu is not None and kind.workflow is not None:
                attempts, failure = self._deliver(kind.workflow, event)
                if failure is not None:
                    parked.append((event, topic, failure, attempts))
                    outcomes.append(Outcome("dead-lettered", failure, attempts))
                    continue
            handled.append(event.id)
            outcomes.append(Outcome("handled", attempts=attempts))
        if handled or parked:
            self._db.run(self._settle, handled, parked)
        return outcomes

    def _settle(self, session: Session, handled: list[uuid.UUID], parked: list[_Parked]) -> None:
        event_repository.mark_many_processed(session, handled, utcnow())
        for event, topic, reason, attempts in parked:
            self._park(session, event, topic, reason, attempts)

    def _write_inboxes(self, session: Session, events: list[Event]) -> set[uuid.UUID]:
        """The events not handled yet; each of them has its inbox entry afterwards."""
        ids = [event.id for event in events]
        fresh = set(ids) - event_repository.processed_among(session, ids)
        with_entries = inbox_repository.events_with_entries(session, fresh)
        entries: dict[uuid.UUID, Notification] = {}
        for event in events:
            if event.id not in fresh or event.id in with_entries or event.id in entries:
                continue
            if catalog.kind_of(event.type).inbox:
                title, body = messages.inbox_message(event)
                entries[event.id] = Notification(
                    user_id=uuid.UUID(event.user_id),
                    event_id=event.id,
                    event_type=event.type,
                    title=title[:200],
                    body=body[:1000],
                    data=json.dumps(event.payload, sort_keys=True),
                    created_at=event.created_at,
                )
        inbox_repository.add_many(session, list(entries.values()))
        return fresh

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
