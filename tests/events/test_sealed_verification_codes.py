"""Email verification codes are never stored in clear: the event that carries one to Novu holds it
sealed (AES-GCM under a key derived from the daemon's secret), in the outbox, on Kafka and in a
dead letter; the notification handler opens it for Novu, and only Novu sees the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.events.models import DeadLetter
from gopherpayd.kit.db import Database
from gopherpayd.notifications.wiring import make_handler
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.conftest import make_settings
from tests.events.pipeline import Pipeline
from tests.support.api import Account, Api
from tests.support.novu import NovuStandIn

NOVU_SECRET = "novu-sealed-codes-secret"


@pytest.fixture
def novu() -> Iterator[NovuStandIn]:
    with NovuStandIn(NOVU_SECRET) as stand_in:
        yield stand_in


@pytest.fixture
def settings(database_url: str, tmp_path: Path, novu: NovuStandIn) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        novu_secret_key=NOVU_SECRET,
        novu_server_url=novu.url,
        delivery_max_attempts=1,
        delivery_backoff_initial=0,
    )


def deliver(db: Database, settings: Settings) -> None:
    dispatcher = InProcessDispatcher(db, settings, make_handler(db, settings))
    while dispatcher.run_once():
        pass


def verification_rows(db: Database, account: Account) -> list[OutboxEvent]:
    return list(
        db.run(
            lambda s: s.exec(
                select(OutboxEvent).where(
                    OutboxEvent.aggregate_key == account.user_id,
                    col(OutboxEvent.event_type) == "user.email_verification",
                )
            ).all()
        )
    )


def code_sent_to(novu: NovuStandIn, account: Account) -> str:
    (trigger,) = novu.triggers_for("email-verification", account.user_id)
    code = str(trigger.payload["code"])
    assert re.fullmatch(r"\d{6}", code), trigger.payload
    return code


def test_the_outbox_holds_the_code_sealed_and_novu_gets_one_that_verifies(
    client: TestClient, db: Database, settings: Settings, novu: NovuStandIn, alice: Account
) -> None:
    deliver(db, settings)

    code = code_sent_to(novu, alice)
    (row,) = verification_rows(db, alice)
    payload = json.loads(row.payload)
    assert row.published_at is not None
    assert payload.keys() == {"user_id", "email", "sealed_code", "expires_in"}
    assert f'"{code}"' not in row.payload
    verified = client.post("/v1/auth/verify-email", json={"code": code}, headers=alice.headers)
    assert (verified.status_code, verified.json()["email_verified"]) == (200, True)


def test_a_parked_verification_event_keeps_the_code_sealed_and_delivers_it_on_replay(
    client: TestClient, db: Database, settings: Settings, novu: NovuStandIn, api: Api, admin: Account
) -> None:
    novu.fail_always()
    alice = api.signup("alice@example.com")
    deliver(db, settings)
    (letter,) = [
        d
        for d in db.run(lambda s: s.exec(select(DeadLetter)).all())
        if d.event_type == "user.email_verification"
    ]
    sealed = json.loads(letter.message)

    novu.recover()
    replay = client.post(
        "/v1/admin/events/dead-letters/replay", json={"reason": "novu is back"}, headers=admin.headers
    )
    assert replay.status_code == 202, replay.text
    deliver(db, settings)

    code = code_sent_to(novu, alice)
    assert "code" not in sealed["payload"] and "sealed_code" in sealed["payload"]
    assert f'"{code}"' not in letter.message
    verified = client.post("/v1/auth/verify-email", json={"code": code}, headers=alice.headers)
    assert verified.status_code == 200, verified.text


def test_a_code_sealed_under_another_secret_is_parked_not_sent(
    db: Database, settings: Settings, novu: NovuStandIn, database_url: str, tmp_path: Path, alice: Account
) -> None:
    other = make_settings(
        database_url,
        tmp_path,
        jwt_secret="another-daemon-secret-" + "y" * 30,
        novu_secret_key=NOVU_SECRET,
        novu_server_url=novu.url,
        delivery_max_attempts=1,
    )
    deliver(db, other)

    assert novu.triggers_for("email-verification") == []
    (letter,) = [
        d
        for d in db.run(lambda s: s.exec(select(DeadLetter)).all())
        if d.event_type == "user.email_verification"
    ]
    assert "does not open with this daemon's secret" in letter.reason


@pytest.mark.slow
def test_through_kafka_the_code_is_sealed_on_the_broker_and_opened_only_for_novu(pipeline: Pipeline) -> None:
    (ada,) = pipeline.people("Ada")

    code = code_sent_to(pipeline.novu, ada)
    records = [
        json.loads(record.value or b"{}")
        for record in pipeline.broker.read_topic("gp-e2e.identity")
        if record.header("event-type") == "user.email_verification"
    ]
    with pipeline.connect() as conn:
        stored = conn.execute(
            "SELECT payload FROM outbox WHERE event_type = 'user.email_verification' AND aggregate_key = %s",
            (ada.user_id,),
        ).fetchall()

    assert len(records) == 1 and len(stored) == 1
    assert "code" not in records[0]["payload"] and "sealed_code" in records[0]["payload"]
    assert f'"{code}"' not in stored[0][0]
    verified = httpx.post(
        f"{pipeline.daemon.url}/v1/auth/verify-email", json={"code": code}, headers=ada.headers, timeout=30
    )
    assert verified.status_code == 200, verified.text
