"""Handling events: the in-app inbox, then Novu, exactly once per event id.

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
from typing import Any

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
from gopherpayd.notifications.novu import BULK_LIMIT, DeliveryFailed, NovuGateway
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


@dataclass
class Delivery:
    """A fresh event of a batch on its way to Novu; `outcome` is set once it needs no more work."""

    index: int
    """Where the event stands in the batch."""
    event: Event
    topic: str
    outcome: Outcome | None = None
    attempts: int = 0
    """Triggers tried in bulk so far (`trigger_together`)."""
    failure: str | None = None
    """Why the last of them did not go through."""


@dataclass
class Batch:
    """Events between their inbox transaction and their settling one."""

    outcomes: list[Outcome | None]
    """Per event of the batch: known now (a duplicate), or once its delivery is done."""
    deliveries: list[Delivery]
    """The fresh events, in the batch's order."""


class NotificationHandler:
    """Handles events in batches of three steps: `open` (one transaction writes the inbox
    entries), `deliver` (Novu, no database; a caller may run different users' deliveries side
    by side, each user's in order), `settle` (one transaction marks the delivered events as
    handled and parks what Novu refused for good). A crash between the steps leaves events
    unmarked: handled again, their inbox entry is not written twice, and Novu's idempotency
    key replays a trigger that went through."""

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
        """The three steps for (event, topic) pairs, their deliveries one after the other."""
        if not events:
            return []
        batch = self.open(events)
        for delivery in batch.deliveries:
            self.deliver(delivery)
        return [outcome for outcome in self.settle(batch) if outcome is not None]

    def open(self, events: list[tuple[Event, str]]) -> Batch:
        """One transaction: the inbox entries of the events not handled yet. An event handled
        before, or earlier in the same list, is a duplicate."""
        fresh = self._db.run(self._write_inboxes, [event for event, _topic in events])
        outcomes: list[Outcome | None] = []
        deliveries: list[Delivery] = []
        for index, (event, topic) in enumerate(events):
            if event.id in fresh:
                fresh.discard(event.id)
                deliveries.append(Delivery(index, event, topic))
                outcomes.append(None)
            else:
                outcomes.append(Outcome("duplicate"))
        return Batch(outcomes, deliveries)

    def trigger_together(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Deliveries of different users (nothing orders them against each other) in bulk:
        one Novu request per BULK_LIMIT of them instead of one each; no database. The ones
        that need no trigger are done at once. Returns those left for `deliver`, one by one
        with its retries: the bulk request failed, or Novu did not take that event."""
        bulk: list[tuple[Delivery, str, dict[str, Any]]] = []
        for delivery in deliveries:
            workflow = catalog.kind_of(delivery.event.type).workflow
            if self._novu is None or workflow is None:
                delivery.outcome = Outcome("handled")
                continue
            try:
                payload = messages.novu_payload(delivery.event, self._settings)
            except CodeUnreadable as error:
                logger.error("event %s: %s", delivery.event.id, error)
                delivery.outcome = Outcome("dead-lettered", str(error), 0)
                continue
            bulk.append((delivery, workflow, payload))
        novu = self._novu
        if novu is None or not bulk:
            return []
        left: list[Delivery] = []
        for start in range(0, len(bulk), BULK_LIMIT):
            chunk = bulk[start : start + BULK_LIMIT]
            try:
                failures = novu.trigger_many([(w, d.event, payload) for d, w, payload in chunk])
            except DeliveryFailed as error:
                logger.warning("a bulk trigger of %d events failed: %s; one by one now", len(chunk), error)
                failures = [str(error)] * len(chunk)
            for (delivery, _workflow, _payload), failure in zip(chunk, failures, strict=True):
                delivery.attempts += 1
                if failure is None:
                    delivery.outcome = Outcome("handled", attempts=delivery.attempts)
                else:
                    delivery.failure = failure
                    left.append(delivery)
        return left

    def deliver(self, delivery: Delivery) -> Outcome:
        """Novu's trigger for one event (when its kind has a workflow), with the retries and
        backoff, counting the bulk attempts it had; no database. Sets and returns the
        delivery's outcome."""
        kind = catalog.kind_of(delivery.event.type)
        outcome = Outcome("handled")
        if self._novu is not None and kind.workflow is not None:
            attempts, failure = self._trigger(
                kind.workflow, delivery.event, delivery.attempts, delivery.failure
            )
            outcome = (
                Outcome("handled", attempts=attempts)
                if failure is None
                else Outcome("dead-lettered", failure, attempts)
            )
        delivery.outcome = outcome
        return outcome

    def settle(self, batch: Batch) -> list[Outcome | None]:
        """One transaction: the delivered events marked handled, the refused ones parked as dead
        letters. Returns each event's outcome; None for an event whose delivery did not finish
        (it stays unmarked, to be handled again)."""
        handled = [
            d.event.id for d in batch.deliveries if d.outcome is not None and not d.outcome.dead_lettered
        ]
        parked = [d for d in batch.deliveries if d.outcome is not None and d.outcome.dead_lettered]
        if handled or parked:
            self._db.run(self._settle, handled, parked)
        outcomes = list(batch.outcomes)
        for delivery in batch.deliveries:
            outcomes[delivery.index] = delivery.outcome
        return outcomes

    def _settle(self, session: Session, handled: list[uuid.UUID], parked: list[Delivery]) -> None:
        event_repository.mark_many_processed(session, handled, utcnow())
        for delivery in parked:
            assert delivery.outcome is not None
            self._park(session, delivery, delivery.outcome)

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

    def _trigger(
        self, workflow: str, event: Event, attempted: int = 0, failure: str | None = None
    ) -> tuple[int, str | None]:
        """Trigger with bounded exponential backoff, after `attempted` tries that failed with
        `failure`; (attempts, last failure or None)."""
        assert self._novu is not None
        try:
            payload = messages.novu_payload(event, self._settings)
        except CodeUnreadable as error:
            logger.error("event %s: %s", event.id, error)
            return 0, str(error)
        delay = self._settings.delivery_backoff_initial
        last = max(attempted, self._settings.delivery_max_attempts)
        for attempt in range(1, last + 1):
            if attempt > 1:
                self._sleep(delay)
                delay = min(delay * 2, self._settings.delivery_backoff_max)
            if attempt <= attempted:
                continue  # tried in bulk already: only its backoff is still owed
            try:
                self._novu.trigger(workflow, event, payload, attempt)
                return attempt, None
            except DeliveryFailed as error:
                failure = str(error)
                logger.warning("event %s: delivery attempt %d failed: %s", event.id, attempt, failure)
        return last, failure

    def _park(self, session: Session, delivery: Delivery, outcome: Outcome) -> None:
        event = delivery.event
        event_repository.add_dead_letter(
            session,
            DeadLetter(
                event_id=event.id,
                event_type=event.type,
                user_id=event.user_id,
                topic=delivery.topic,
                message=event.encode().decode(),
                reason=(outcome.reason or "")[:1000],
                attempts=outcome.attempts,
            ),
        )
