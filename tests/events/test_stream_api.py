"""GET /v1/stream: a user's own events as Server-Sent Events, resumable without gaps or repeats.

Every person here starts with three events: signing up (the welcome and the
verification code) and the first login. The stream's ids are those sequence
numbers, so each test knows exactly which ids to expect.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gopherpayd.events.models import OutboxEvent
from gopherpayd.kit.db import Database
from tests.events.live import Frame, open_stream
from tests.identity.problems import assert_problem
from tests.support.api import Account, Api

EVENTS_AFTER_SIGNUP = 3
"""user.signed_up, user.email_verification, user.new_login."""


def payload(frame: Frame) -> dict[str, Any]:
    assert frame.data is not None, frame
    data: dict[str, Any] = json.loads(frame.data)
    return data


def sent(api: Api, sender: Account, recipient: Account, amount: int) -> str:
    response = api.transfer(sender, recipient.email, amount)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def set_wallet_frozen(client: TestClient, admin: Account, account: Account, frozen: bool) -> None:
    action = "freeze" if frozen else "unfreeze"
    response = client.post(
        f"/v1/admin/users/{account.email}/wallets/USD/{action}",
        json={"reason": "stream test"},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


def test_the_first_frame_says_where_the_stream_starts(client: TestClient, alice: Account) -> None:
    with open_stream(client, alice) as frames:
        assert frames.next() == Frame({"retry": "1000", "id": str(EVENTS_AFTER_SIGNUP)})


def test_the_stream_needs_a_login(client: TestClient) -> None:
    assert_problem(client.get("/v1/stream"), 401, "authentication_required")


def test_a_new_transfer_arrives_as_the_callers_side_of_it(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    with open_stream(client, alice) as frames:
        assert frames.next().id == "4"
        transfer_id = sent(api, alice, bob, 1_234)
        frame = frames.next_event()
    as_alice = client.get(f"/v1/transfers/{transfer_id}", headers=alice.headers).json()
    data = payload(frame)
    assert (frame.id, frame.event) == ("5", "transfer")
    assert data == {"event_id": data["event_id"], "type": "transfer.sent", "transfer": as_alice}
    assert as_alice["direction"] == "out"
    uuid.UUID(data["event_id"])


@pytest.mark.parametrize("resume", ["Last-Event-ID header", "after query parameter"])
def test_resuming_sends_only_the_events_after_the_last_one_seen(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, resume: str
) -> None:
    api.deposit(admin, alice.email, 10_000)  # 4
    sent(api, alice, bob, 100)  # 5
    missed = sent(api, alice, bob, 200)  # 6
    where = {"last_event_id": "5"} if resume.startswith("Last") else {"after": 5}
    with open_stream(client, alice, **where) as frames:  # type: ignore[arg-type]
        assert frames.next() == Frame({"retry": "1000", "id": "5"})
        caught_up = frames.next_event()
        live = sent(api, alice, bob, 300)  # 7
        following = frames.next_event()
    assert [(f.id, payload(f)["transfer"]["id"]) for f in (caught_up, following)] == [
        ("6", missed),
        ("7", live),
    ]


def test_ids_increase_by_one_across_transfers_and_notifications(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, bob.email, 5_000)
    with open_stream(client, alice) as frames:
        start = int(frames.next().id or "")
        api.deposit(admin, alice.email, 10_000)
        sent(api, alice, bob, 1_000)
        sent(api, bob, alice, 300)
        set_wallet_frozen(client, admin, alice, True)
        set_wallet_frozen(client, admin, alice, False)
        received = frames.events(5)
    assert [int(f.id or "") for f in received] == list(range(start + 1, start + 6))
    assert [(f.event, payload(f)["type"]) for f in received] == [
        ("transfer", "wallet.deposit"),
        ("transfer", "transfer.sent"),
        ("transfer", "transfer.received"),
        ("notification", "wallet.frozen"),
        ("notification", "wallet.unfrozen"),
    ]
    frozen = payload(received[3])
    assert (frozen["title"], frozen["body"]) == (
        "Your USD wallet is frozen",
        "It can neither send nor receive money.",
    )


def test_email_verification_codes_never_appear_on_the_stream(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account
) -> None:
    with open_stream(client, alice, last_event_id="0") as frames:
        assert frames.next().id == "0"
        history = frames.events(2)
        resent = client.post("/v1/auth/verify-email/resend", headers=alice.headers)
        assert resent.status_code == 202, resent.text
        api.deposit(admin, alice.email, 500)
        after_resend = frames.next_event()
    shown = [(f.id, payload(f)["type"]) for f in [*history, after_resend]]
    assert shown == [("1", "user.signed_up"), ("3", "user.new_login"), ("5", "wallet.deposit")]
    codes = [
        json.loads(row.payload)["code"]
        for row in db.run(
            lambda s: s.exec(
                select(OutboxEvent).where(
                    OutboxEvent.aggregate_key == alice.user_id,
                    col(OutboxEvent.event_type) == "user.email_verification",
                )
            ).all()
        )
    ]
    assert len(codes) == 2
    for frame in frames.seen:
        assert '"code"' not in (frame.data or ""), frame
        assert not any(f'"{code}"' in (frame.data or "") for code in codes), frame


def test_another_users_events_never_appear(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    with open_stream(client, alice) as frames:
        start = int(frames.next().id or "")
        api.deposit(admin, bob.email, 700)
        set_wallet_frozen(client, admin, bob, True)
        set_wallet_frozen(client, admin, bob, False)
        from_bob = sent(api, bob, alice, 300)
        api.deposit(admin, alice.email, 100)
        received = frames.events(2)
    assert [(f.id, payload(f)["type"]) for f in received] == [
        (str(start + 1), "transfer.received"),
        (str(start + 2), "wallet.deposit"),
    ]
    transfer = payload(received[0])["transfer"]
    assert (transfer["id"], transfer["direction"], transfer["recipient"]["user_id"]) == (
        from_bob,
        "in",
        alice.user_id,
    )


def refused(client: TestClient, account: Account, params: dict[str, Any], **headers: str) -> httpx.Response:
    """A stream request that must be refused (a stream opened by mistake would never end)."""
    all_headers = {**account.headers, **headers}
    with client.stream("GET", "/v1/stream", params=params, headers=all_headers) as response:
        assert response.status_code != 200, "the stream was opened"
        response.read()
    return response


@pytest.mark.parametrize("last_event_id", ["abc", "-1", "4.5", "0x10"])
def test_a_last_event_id_the_stream_never_sent_is_refused(
    client: TestClient, alice: Account, last_event_id: str
) -> None:
    assert_problem(refused(client, alice, {}, **{"Last-Event-ID": last_event_id}), 400, "bad_request")


def test_a_position_ahead_of_the_stream_is_refused(client: TestClient, alice: Account) -> None:
    ahead = str(EVENTS_AFTER_SIGNUP + 1)

    by_header = assert_problem(refused(client, alice, {}, **{"Last-Event-ID": ahead}), 400, "bad_request")
    by_query = assert_problem(refused(client, alice, {"after": ahead}), 400, "bad_request")

    assert by_header["detail"] == f"event {ahead} has not happened on this stream; the latest is 3"
    assert by_query == by_header
    with open_stream(client, alice, last_event_id=str(EVENTS_AFTER_SIGNUP)) as frames:
        assert frames.next().id == str(EVENTS_AFTER_SIGNUP)
