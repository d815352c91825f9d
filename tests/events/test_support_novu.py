"""The Novu stand-in, driven through the real novu-py SDK the worker uses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from novu_py import Novu, models
from novu_py.utils import BackoffStrategy, RetryConfig

from tests.support.novu import NovuStandIn

SECRET = "novu-secret-for-tests"
NO_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), False)
FAST_RETRIES = RetryConfig("backoff", BackoffStrategy(20, 50, 1.5, 2000), True)


@pytest.fixture
def stand_in() -> Iterator[NovuStandIn]:
    with NovuStandIn(SECRET) as server:
        yield server


@pytest.fixture
def novu(stand_in: NovuStandIn) -> Novu:
    return Novu(secret_key=SECRET, server_url=stand_in.url, retry_config=NO_RETRIES, timeout_ms=5000)


def transfer_received(
    event_id: str = "evt-1", amount: str = "12.50"
) -> models.TriggerEventRequestDtoTypedDict:
    return {
        "workflow_id": "transfer-received",
        "to": {"subscriber_id": "user-bob", "email": "bob@example.com", "first_name": "Bob"},
        "payload": {"amount": amount, "currency": "USD", "counterparty": "Ada Lovelace", "memo": "lunch"},
        "transaction_id": event_id,
    }


def test_a_trigger_is_acknowledged_and_recorded_with_its_workflow_subscriber_payload_and_transaction_id(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    before = datetime.now(UTC)

    response = novu.trigger(trigger_event_request_dto=transfer_received("evt-1"), idempotency_key="evt-1")

    assert (response.result.acknowledged, response.result.status) == (True, "processed")
    assert response.result.transaction_id == "evt-1"
    (trigger,) = stand_in.triggers
    assert (trigger.workflow, trigger.subscriber_id, trigger.email, trigger.first_name) == (
        "transfer-received",
        "user-bob",
        "bob@example.com",
        "Bob",
    )
    assert trigger.payload == {
        "amount": "12.50",
        "currency": "USD",
        "counterparty": "Ada Lovelace",
        "memo": "lunch",
    }
    assert (trigger.transaction_id, trigger.idempotency_key) == ("evt-1", "evt-1")
    assert before <= trigger.received_at <= datetime.now(UTC)
    assert stand_in.subscribers["user-bob"]["email"] == "bob@example.com"
    (call,) = stand_in.calls
    assert (call.method, call.path, call.status, call.headers["authorization"]) == (
        "POST",
        "/v1/events/trigger",
        201,
        f"ApiKey {SECRET}",
    )


def test_the_same_idempotency_key_twice_triggers_once_and_replays_the_stored_answer(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    first = novu.trigger(trigger_event_request_dto=transfer_received("evt-2"), idempotency_key="evt-2")
    again = novu.trigger(trigger_event_request_dto=transfer_received("evt-2"), idempotency_key="evt-2")

    assert again.result == first.result
    assert again.headers["idempotency-replay"] == ["true"]
    assert len(stand_in.triggers) == 1
    assert [(call.idempotency_key, call.status) for call in stand_in.replays] == [("evt-2", 201)]


def test_an_idempotency_key_reused_for_another_body_is_refused(stand_in: NovuStandIn, novu: Novu) -> None:
    novu.trigger(trigger_event_request_dto=transfer_received("evt-3"), idempotency_key="evt-3")

    with pytest.raises(models.ValidationErrorDto) as refused:
        novu.trigger(
            trigger_event_request_dto=transfer_received("evt-3", amount="99.00"), idempotency_key="evt-3"
        )

    assert refused.value.status_code == 422
    assert refused.value.data.message == 'Request with key "evt-3" is being reused for a different body'
    assert [trigger.payload["amount"] for trigger in stand_in.triggers] == ["12.50"]


def test_a_repeated_transaction_id_under_a_new_key_is_acknowledged_but_notifies_nobody(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    novu.trigger(trigger_event_request_dto=transfer_received("evt-4"), idempotency_key="attempt-1")
    response = novu.trigger(trigger_event_request_dto=transfer_received("evt-4"), idempotency_key="attempt-2")

    assert response.result.status == "processed"
    assert [trigger.idempotency_key for trigger in stand_in.triggers] == ["attempt-1"]
    assert [trigger.idempotency_key for trigger in stand_in.duplicates] == ["attempt-2"]


def test_subscribers_are_created_updated_and_read_back(stand_in: NovuStandIn, novu: Novu) -> None:
    created = novu.subscribers.create(
        create_subscriber_request_dto={
            "subscriber_id": "user-ada",
            "email": "ada@example.com",
            "first_name": "Ada",
        }
    ).result
    updated = novu.subscribers.create(
        create_subscriber_request_dto={"subscriber_id": "user-ada", "email": "ada@new.example.com"}
    ).result

    assert (created.subscriber_id, created.email, created.first_name, created.deleted) == (
        "user-ada",
        "ada@example.com",
        "Ada",
        False,
    )
    assert (updated.id, updated.email, updated.first_name) == (created.id, "ada@new.example.com", "Ada")
    assert novu.subscribers.retrieve(subscriber_id="user-ada").result.email == "ada@new.example.com"
    with pytest.raises(models.SubscriberResponseDtoError):
        novu.subscribers.create(
            create_subscriber_request_dto={"subscriber_id": "user-ada"}, fail_if_exists=True
        )
    with pytest.raises(models.ErrorDto) as missing:
        novu.subscribers.retrieve(subscriber_id="user-nobody")
    assert missing.value.status_code == 404
    assert list(stand_in.subscribers) == ["user-ada"]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(500, models.ErrorDto), (502, models.APIError), (503, models.APIError), (429, models.APIError)],
)
def test_an_injected_failure_raises_the_sdk_error_at_once_and_the_next_call_succeeds(
    stand_in: NovuStandIn, novu: Novu, status: int, error_class: type[models.NovuError]
) -> None:
    stand_in.fail_next(1, status=status)
    started = time.monotonic()

    with pytest.raises(error_class) as failed:
        novu.trigger(trigger_event_request_dto=transfer_received("evt-5"), idempotency_key="evt-5")

    assert time.monotonic() - started < 1.0
    assert failed.value.status_code == status
    assert [(call.status, call.outcome) for call in stand_in.failures] == [(status, "failed")]
    assert stand_in.triggers == []
    # A fault is not stored under the idempotency key: the retry with the same key goes through.
    novu.trigger(trigger_event_request_dto=transfer_received("evt-5"), idempotency_key="evt-5")
    assert [trigger.transaction_id for trigger in stand_in.triggers] == ["evt-5"]
    assert stand_in.replays == []


def test_fail_always_lasts_until_recover_and_fail_for_until_its_time_is_up(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    stand_in.fail_always(503)
    for _ in range(3):
        with pytest.raises(models.APIError):
            novu.trigger(trigger_event_request_dto=transfer_received("evt-6"), idempotency_key="evt-6")
    stand_in.recover()
    novu.trigger(trigger_event_request_dto=transfer_received("evt-6"), idempotency_key="evt-6")

    stand_in.fail_for(0.3, status=500)
    with pytest.raises(models.ErrorDto):
        novu.trigger(trigger_event_request_dto=transfer_received("evt-7"), idempotency_key="evt-7")
    time.sleep(0.35)
    novu.trigger(trigger_event_request_dto=transfer_received("evt-7"), idempotency_key="evt-7")

    assert [trigger.transaction_id for trigger in stand_in.triggers] == ["evt-6", "evt-7"]
    assert len(stand_in.failures) == 4


def test_the_sdk_retries_through_transient_failures_and_the_notification_is_triggered_once(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    stand_in.fail_next(2, status=503, path="/v1/events/trigger")

    novu.trigger(
        trigger_event_request_dto=transfer_received("evt-8"), idempotency_key="evt-8", retries=FAST_RETRIES
    )

    assert [(call.status, call.idempotency_key) for call in stand_in.calls] == [
        (503, "evt-8"),
        (503, "evt-8"),
        (201, "evt-8"),
    ]
    assert len(stand_in.triggers) == 1


def test_a_retry_while_the_first_request_is_still_answered_gets_409_then_the_stored_answer(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    stand_in.latency = 0.4
    with pytest.raises(httpx.TimeoutException):
        novu.trigger(
            trigger_event_request_dto=transfer_received("evt-9"), idempotency_key="evt-9", timeout_ms=100
        )

    with pytest.raises(models.ErrorDto) as in_progress:
        novu.trigger(trigger_event_request_dto=transfer_received("evt-9"), idempotency_key="evt-9")
    stand_in.wait_for_triggers(1, timeout=2)
    replayed = novu.trigger(trigger_event_request_dto=transfer_received("evt-9"), idempotency_key="evt-9")

    assert (in_progress.value.status_code, in_progress.value.headers["retry-after"]) == (409, "1")
    assert replayed.result.transaction_id == "evt-9"
    assert len(stand_in.triggers) == 1 and len(stand_in.replays) == 1


def test_a_wrong_secret_key_is_refused_with_401(stand_in: NovuStandIn) -> None:
    intruder = Novu(secret_key="not-the-key", server_url=stand_in.url, retry_config=NO_RETRIES)

    with pytest.raises(models.ErrorDto) as refused:
        intruder.trigger(trigger_event_request_dto=transfer_received("evt-10"))

    assert (refused.value.status_code, refused.value.data.status_code) == (401, 401)
    assert stand_in.triggers == [] and stand_in.calls[0].outcome == "rejected"


def test_waiting_for_triggers_that_never_come_fails_with_what_did_come(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    novu.trigger(trigger_event_request_dto=transfer_received("evt-11"))
    assert len(stand_in.wait_for_triggers(1, timeout=1)) == 1

    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"expected 2 Novu triggers within 0.2s, got 1: .*evt-11"):
        stand_in.wait_for_triggers(2, timeout=0.2)
    assert timedelta(seconds=time.monotonic() - started) < timedelta(seconds=1)


def bulk(*events: models.TriggerEventRequestDtoTypedDict) -> models.BulkTriggerEventDtoTypedDict:
    return {"events": list(events)}


def test_a_bulk_trigger_answers_each_event_in_order_and_records_each_once(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    novu.trigger(trigger_event_request_dto=transfer_received("evt-seen"), idempotency_key="evt-seen")
    stand_in.refuse_in_bulk({"evt-refused"})

    answers = novu.trigger_bulk(
        bulk_trigger_event_dto=bulk(
            transfer_received("evt-a"),
            transfer_received("evt-refused"),
            transfer_received("evt-seen"),
            transfer_received("evt-b"),
        )
    ).result

    assert [(a.transaction_id, a.acknowledged) for a in answers] == [
        ("evt-a", True),
        ("evt-refused", False),
        ("evt-seen", True),
        ("evt-b", True),
    ]
    assert answers[1].status == "error"
    assert [t.transaction_id for t in stand_in.triggers] == ["evt-seen", "evt-a", "evt-b"]
    assert [t.transaction_id for t in stand_in.duplicates] == ["evt-seen"]
    assert [(c.path, c.status) for c in stand_in.calls][-1] == ("/v1/events/trigger/bulk", 201)


def test_a_bulk_trigger_with_one_invalid_event_or_too_many_events_triggers_nothing(
    stand_in: NovuStandIn, novu: Novu
) -> None:
    with httpx.Client() as raw:
        answer = raw.post(
            f"{stand_in.url}/v1/events/trigger/bulk",
            json={
                "events": [
                    {"name": "transfer-received", "to": "user-bob", "transactionId": "evt-c"},
                    {"name": ""},
                ]
            },
            headers={"Authorization": f"ApiKey {SECRET}"},
        )
        too_many = raw.post(
            f"{stand_in.url}/v1/events/trigger/bulk",
            json={"events": [{"name": "w", "to": "u", "transactionId": f"e{i}"} for i in range(101)]},
            headers={"Authorization": f"ApiKey {SECRET}"},
        )

    assert answer.status_code == 422 and "events.1.name" in answer.json()["errors"]
    assert too_many.status_code == 422
    assert stand_in.triggers == []
