"""Novu delivery through the official SDK (novu-py)."""

from __future__ import annotations

import logging
from typing import Any

from gopherpayd.events.envelope import Event
from gopherpayd.settings import Settings

logger = logging.getLogger("gopherpayd.notifications")


class DeliveryFailed(Exception):
    """Novu did not accept the trigger; the message says why, without secrets."""


def idempotency_key(event: Event, attempt: int) -> str:
    """The event id for a first attempt; a derived key for each retry.

    Novu keeps the answer it gave under a key, errors included, so a retry after
    a Novu-side 5xx needs a fresh key to be tried at all. Doubles are still
    impossible: every attempt carries the event id as transactionId, which Novu
    accepts once. A redelivered event starts again at attempt 1, whose key
    replays the stored answer if that attempt had gone through.
    """
    return str(event.id) if attempt == 1 else f"{event.id}:retry-{attempt}"


class NovuGateway:
    """Triggers one workflow per event, idempotently (see `idempotency_key`)."""

    def __init__(self, settings: Settings) -> None:
        from novu_py import Novu

        options: dict[str, Any] = {
            "secret_key": settings.novu_secret_key.get_secret_value(),
            # The SDK would retry for up to an hour; the handler owns retries and backoff.
            "retry_config": None,
            "timeout_ms": settings.novu_timeout_ms,
        }
        if settings.novu_server_url:
            options["server_url"] = settings.novu_server_url
        self._client = Novu(**options)

    def trigger(self, workflow: str, event: Event, payload: dict[str, Any], attempt: int = 1) -> None:
        from novu_py import models

        try:
            response = self._client.trigger(
                trigger_event_request_dto=_request(workflow, event, payload),
                idempotency_key=idempotency_key(event, attempt),
            )
        except models.ResponseValidationError as error:
            raise DeliveryFailed("Novu's answer was not a trigger result") from error
        except _request_errors() as error:
            raise _failure(error) from error
        failure = _refusal(getattr(response, "result", response))
        if failure is not None:
            raise DeliveryFailed(failure)

    def trigger_many(self, items: list[tuple[str, Event, dict[str, Any]]]) -> list[str | None]:
        """One bulk request for (workflow, event, payload) items, at most BULK_LIMIT: for each
        item, None when Novu acknowledged it, else why not. Raises DeliveryFailed when the
        request as a whole failed. No idempotency key: the request is not retried as it is
        (what it did not deliver goes one by one through `trigger`), and each event's
        transactionId still makes a second trigger of it a no-op."""
        from novu_py import models

        if not 1 <= len(items) <= BULK_LIMIT:
            raise ValueError(f"a bulk trigger takes 1 to {BULK_LIMIT} events, not {len(items)}")
        request = models.BulkTriggerEventDto(events=[_request(*item) for item in items])
        try:
            response = self._client.trigger_bulk(bulk_trigger_event_dto=request)
        except models.ResponseValidationError as error:
            raise DeliveryFailed("Novu's answer was not a bulk trigger result") from error
        except _request_errors() as error:
            raise _failure(error) from error
        answers = list(response.result)
        if len(answers) != len(items):
            raise DeliveryFailed(f"Novu answered {len(answers)} of {len(items)} bulk triggers")
        failures: list[str | None] = []
        for (_workflow, event, _payload), answer in zip(items, answers, strict=True):
            failure = _refusal(answer)
            if failure is None and answer.transaction_id not in (None, str(event.id)):
                failure = "Novu's bulk answers came in another order"
            failures.append(failure)
        return failures


BULK_LIMIT = 100
"""The most events Novu takes in one bulk trigger."""


def _request(workflow: str, event: Event, payload: dict[str, Any]) -> Any:
    from novu_py import models

    subscriber: dict[str, Any] = {"subscriber_id": event.user_id}
    if event.payload.get("email"):
        subscriber["email"] = event.payload["email"]
    if event.payload.get("full_name"):
        subscriber["first_name"] = str(event.payload["full_name"]).split(" ")[0]
    return models.TriggerEventRequestDto(
        workflow_id=workflow,
        to=models.SubscriberPayloadDto(**subscriber),
        payload=payload,
        transaction_id=str(event.id),
    )


def _request_errors() -> tuple[type[Exception], ...]:
    import httpx
    from novu_py import models

    return (models.NovuError, httpx.HTTPError, models.NoResponseError)


def _failure(error: Exception) -> DeliveryFailed:
    from novu_py import models

    if isinstance(error, models.NovuError):
        return DeliveryFailed(f"Novu answered HTTP {error.status_code}")
    return DeliveryFailed(f"Novu unreachable: {type(error).__name__}")


def _refusal(result: Any) -> str | None:
    """Why Novu did not take a trigger (None: it did), from its trigger answer."""
    if getattr(result, "acknowledged", False):
        return None
    return f"Novu did not acknowledge the trigger (status {getattr(result, 'status', None)})"
