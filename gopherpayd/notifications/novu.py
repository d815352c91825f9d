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
        import httpx
        from novu_py import models

        subscriber: dict[str, Any] = {"subscriber_id": event.user_id}
        if event.payload.get("email"):
            subscriber["email"] = event.payload["email"]
        if event.payload.get("full_name"):
            subscriber["first_name"] = str(event.payload["full_name"]).split(" ")[0]
        request = models.TriggerEventRequestDto(
            workflow_id=workflow,
            to=models.SubscriberPayloadDto(**subscriber),
            payload=payload,
            transaction_id=str(event.id),
        )
        try:
            response = self._client.trigger(
                trigger_event_request_dto=request, idempotency_key=idempotency_key(event, attempt)
            )
        except models.ResponseValidationError as error:
            raise DeliveryFailed("Novu's answer was not a trigger result") from error
        except models.NovuError as error:
            raise DeliveryFailed(f"Novu answered HTTP {error.status_code}") from error
        except (httpx.HTTPError, models.NoResponseError) as error:
            raise DeliveryFailed(f"Novu unreachable: {type(error).__name__}") from error
        result = getattr(response, "result", response)
        if not getattr(result, "acknowledged", False):
            raise DeliveryFailed(
                f"Novu did not acknowledge the trigger (status {getattr(result, 'status', None)})"
            )
