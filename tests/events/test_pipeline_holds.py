"""End to end through the real processes: every step of a hold reaches its payer and its payee
once, and so does every FX execution (an exchange, a payment received in another currency).

`gopherpayd serve` writes each hold step's events to the outbox (the expiry through its own
sweeper thread), `gopherpayd relay` publishes them to a Tansu broker, `gopherpayd worker` writes
the inboxes and triggers Novu (the stand-in, through novu-py). Postgres only, as every pipeline
test: relay and worker are processes of their own around the daemon's Postgres outbox; the
embedded SQLite default delivers in-process (tests/events/test_embedded.py, both backends).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.events.fx_steps import FxSteps
from tests.events.hold_steps import (
    PipelineHold,
    await_expiry,
    capture_hold,
    decline_hold,
    place_hold,
    void_hold,
)
from tests.events.pipeline import DELIVERY_IDENTITY, EVENT_TOPICS, Pipeline, running_pipeline

KINDS = ["hold.placed", "hold.captured", "hold.voided", "hold.declined", "hold.expired"]
"""The event types this scenario delivers to both parties of each step (each has its payloads
pinned by DELIVERY_IDENTITY)."""


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The pipeline, its daemon sweeping expired holds every 0.2 s (not every 5 s), so a hold
    that expires in a second is released moments later without the test asking for it."""
    with running_pipeline(tmp_path, GOPHERPAY_HOLD_SWEEP_INTERVAL="0.2") as running:
        yield running


def test_every_hold_step_and_fx_execution_reaches_its_parties_once_through_relay_and_worker(
    pipeline: Pipeline,
) -> None:
    ada, bob = pipeline.people("Ada", "Bob")
    warm = len(pipeline.novu.triggers)
    fx = FxSteps(pipeline)

    parking = place_hold(pipeline, ada, bob, 2_500, "parking", expires_in=1)  # left to the sweeper
    flat = place_hold(pipeline, ada, bob, 60_000, "flat deposit")
    first = capture_hold(pipeline, flat, 15_000)
    second = capture_hold(pipeline, flat, 20_050)
    void_hold(pipeline, flat)
    tickets = place_hold(pipeline, bob, ada, 7_777, None)
    decline_hold(pipeline, tickets)
    exchanged = fx.exchange(ada, 10_000, "for the trip")
    paid = fx.pay(ada, bob, 5_000, "rent share")
    await_expiry(pipeline, parking)

    triggers = pipeline.assert_delivered_exactly_once()

    assert set(KINDS) <= set(DELIVERY_IDENTITY)
    outbox = pipeline.outbox_events()
    new = triggers[warm:]
    steps = sorted(
        (
            outbox[t.transaction_id].event_type,
            t.workflow,
            t.subscriber_id,
            t.payload["role"],
            t.payload["hold_id"],
            t.payload["amount_minor"],
            t.payload["currency"],
        )
        for t in new
        if outbox[t.transaction_id].event_type in KINDS
    )
    assert steps == sorted(
        both_parties("hold.placed", "hold-placed", parking, 2_500)
        + both_parties("hold.placed", "hold-placed", flat, 60_000)
        + both_parties("hold.captured", "hold-captured", flat, 15_000)
        + both_parties("hold.captured", "hold-captured", flat, 20_050)
        + both_parties("hold.voided", "hold-voided", flat, 60_000 - 15_000 - 20_050)
        + both_parties("hold.placed", "hold-placed", tickets, 7_777)
        + both_parties("hold.declined", "hold-declined", tickets, 7_777)
        + both_parties("hold.expired", "hold-expired", parking, 2_500)
    )
    # Each capture is a transfer too: the payer hears it sent, the payee received, once each;
    # the capture's own step names that transfer.
    captures = Counter(
        (t.workflow, t.subscriber_id, t.payload["amount_minor"], t.payload["transfer_id"])
        for t in new
        if t.payload.get("transfer_id") in (first["id"], second["id"])
    )
    assert captures == {
        (workflow, who.user_id, amount, capture["id"]): 1
        for capture, amount in ((first, 15_000), (second, 20_050))
        for workflow, who in (
            ("transfer-sent", ada),
            ("transfer-received", bob),
            ("hold-captured", ada),
            ("hold-captured", bob),
        )
    }
    # Each FX execution told its parties once, each in their own currency.
    executions = Counter(
        (t.workflow, t.subscriber_id, t.payload["amount_minor"], t.payload["currency"])
        for t in new
        if t.payload.get("transfer_id") in (exchanged["id"], paid["id"])
    )
    assert executions == {
        ("fx-exchanged", ada.user_id, 10_000, "USD"): 1,
        ("transfer-sent", ada.user_id, 5_000, "USD"): 1,
        ("transfer-received", bob.user_id, paid["fx"]["buy_amount"], "EUR"): 1,
    }
    assert fx.buy_balances == {
        ada.user_id: exchanged["fx"]["buy_amount"],
        bob.user_id: paid["fx"]["buy_amount"],
    }
    # Nothing is held any more; what moved is the two captures and the two FX executions.
    for person in (ada, bob):
        wallet = pipeline.client.get("/v1/wallets/USD", headers=person.headers).json()
        assert (wallet["posted"], wallet["held"], wallet["available"]) == (
            pipeline.balances[person.user_id],
            0,
            pipeline.balances[person.user_id],
        )
    assert pipeline.balances == {ada.user_id: 100_000 - 35_050 - 15_000, bob.user_id: 100_000 + 35_050}
    # The relay published every event once (nothing was retried here).
    published = Counter(
        record.header("event-id") for topic in EVENT_TOPICS for record in pipeline.broker.read_topic(topic)
    )
    assert set(published.values()) == {1} and set(published) == set(outbox)


def both_parties(
    event_type: str, workflow: str, hold: PipelineHold, amount: int
) -> list[tuple[str, str, str, str, str, int, str]]:
    return [
        (event_type, workflow, hold.payer.user_id, "payer", hold.id, amount, "USD"),
        (event_type, workflow, hold.payee.user_id, "payee", hold.id, amount, "USD"),
    ]
