"""What a hold tells people, and the sweeper: placed, captured, voided, declined and expired
reach both parties' outbox (their inbox, Novu, Kafka) and their live stream; the sweeper
releases expired holds and says so, and a capture never waits for it. Both backends."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine, sweeper
from tests.events.live import open_stream
from tests.support.api import Account, Api
from tests.transfers.holds_helpers import act, place, wallet


def hold_events(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, user, payload) of every hold event in the outbox, in the order they were written."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT event_type, aggregate_key, payload FROM outbox "
                "WHERE event_type LIKE 'hold.%' ORDER BY created_at, user_seq"
            )
        ).all()
    return [(event_type, user, json.loads(body)) for event_type, user, body in rows]


def shortly_after(moment_in: timedelta) -> Any:
    later = utcnow() + moment_in
    return lambda: later


def test_every_step_of_a_hold_tells_the_payer_and_the_payee(
    db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 600, memo="rent").json()["id"]
    act(api, alice, hold_id, "capture", {"amount": 200})
    act(api, alice, hold_id, "void")
    declined_id = place(api, alice, bob, 100).json()["id"]
    act(api, bob, declined_id, "decline")

    events = [(t, user, p["role"], p["amount"], p["remaining"]) for t, user, p in hold_events(db)]

    assert sorted(events) == sorted(
        [
            ("hold.placed", alice.user_id, "payer", 600, 600),
            ("hold.placed", bob.user_id, "payee", 600, 600),
            ("hold.captured", alice.user_id, "payer", 200, 400),
            ("hold.captured", bob.user_id, "payee", 200, 400),
            ("hold.voided", alice.user_id, "payer", 400, 0),
            ("hold.voided", bob.user_id, "payee", 400, 0),
            ("hold.placed", alice.user_id, "payer", 100, 100),
            ("hold.placed", bob.user_id, "payee", 100, 100),
            ("hold.declined", alice.user_id, "payer", 100, 0),
            ("hold.declined", bob.user_id, "payee", 100, 0),
        ]
    )
    first = next(p for t, user, p in hold_events(db) if user == bob.user_id)
    assert (first["hold_id"], first["memo"], first["counterparty"], first["currency"]) == (
        hold_id,
        "rent",
        alice.email,
        "USD",
    )


def test_hold_steps_arrive_on_the_live_stream_with_their_words(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    with open_stream(client, bob) as frames:
        frames.next()
        hold_id = place(api, alice, bob, 500).json()["id"]
        act(api, alice, hold_id, "capture", {"amount": 500})
        received = frames.events(3)

    kinds = [(f.event, json.loads(f.data or "{}")["type"]) for f in received]
    assert kinds == [
        ("notification", "hold.placed"),
        ("transfer", "transfer.received"),
        ("notification", "hold.captured"),
    ]
    placed = json.loads(received[0].data or "{}")
    assert placed["title"] == f"{alice.email} placed a hold of 5.00 USD for you"


def test_the_sweeper_releases_an_expired_hold_and_says_so(
    db: Database,
    settings: Settings,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 700, expires_in=60).json()["id"]
    live = place(api, alice, bob, 100, expires_in=7_200).json()["id"]
    assert sweeper.sweep_once(db, settings) == 0

    later = shortly_after(timedelta(minutes=5))
    monkeypatch.setattr(sweeper, "utcnow", later)
    monkeypatch.setattr(engine, "utcnow", later)
    swept = sweeper.sweep_once(db, settings)
    again = sweeper.sweep_once(db, settings)

    assert (swept, again) == (1, 0)
    expired = api.client.get(f"/v1/holds/{hold_id}", headers=alice.headers).json()
    assert (expired["status"], expired["released"], expired["remaining"]) == ("expired", 700, 0)
    assert api.client.get(f"/v1/holds/{live}", headers=alice.headers).json()["status"] == "open"
    assert wallet(api, alice) == (1_000, 100, 900)
    assert sorted((t, user) for t, user, _ in hold_events(db) if t == "hold.expired") == sorted(
        [("hold.expired", alice.user_id), ("hold.expired", bob.user_id)]
    )
    capture = act(api, alice, hold_id, "capture", {"amount": 1})
    assert (capture.status_code, capture.json()["code"]) == (409, "hold_expired")
    assert api.audit(admin)["ok"] is True


def test_the_daemons_sweeper_thread_expires_holds_by_itself(
    db: Database, settings: Settings, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 300, expires_in=1).json()["id"]
    background = sweeper.HoldSweeper(db, settings.model_copy(update={"hold_sweep_interval": 0.05}))
    background.start()
    try:
        give_up = time.monotonic() + 30
        while api.client.get(f"/v1/holds/{hold_id}", headers=alice.headers).json()["status"] != "expired":
            assert time.monotonic() < give_up, "the sweeper did not expire the hold"
            time.sleep(0.05)
    finally:
        background.stop()
    assert wallet(api, alice) == (1_000, 0, 1_000)
