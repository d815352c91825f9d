"""GET /v1/stream: a user's own events as Server-Sent Events, resumable without gaps or repeats.

Every person here starts with two events: signing up (the welcome and the
verification code); the first login raises no new-login alert. The stream's ids
are those sequence numbers, so each test knows exactly which ids to expect.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gopherpayd.app import create_app
from gopherpayd.identity import verification
from gopherpayd.kit.db import Database
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.conftest import make_settings
from tests.events.live import Frame, FrameReader, open_stream, wait_until
from tests.identity.problems import assert_problem
from tests.support.api import Account, Api

EVENTS_AFTER_SIGNUP = 2
"""user.signed_up, user.email_verification."""


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
        assert frames.next().id == "3"
        transfer_id = sent(api, alice, bob, 1_234)
        frame = frames.next_event()
    as_alice = client.get(f"/v1/transfers/{transfer_id}", headers=alice.headers).json()
    data = payload(frame)
    assert (frame.id, frame.event) == ("4", "transfer")
    assert data == {"event_id": data["event_id"], "type": "transfer.sent", "transfer": as_alice}
    assert as_alice["direction"] == "out"
    uuid.UUID(data["event_id"])


def test_fx_executions_arrive_as_transfers_with_their_quote(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    """An exchange streams as fx.exchanged, a payment on a quote as transfer.sent to its sender
    and transfer.received to its recipient: each the Transfer with its `fx` part."""
    api.deposit(admin, alice.email, 10_000)
    rate = {"sell": "USD", "buy": "EUR", "rate": "0.9213", "spread": "0.5%", "reason": "test"}
    assert client.post("/v1/admin/fx/rates", json=rate, headers=admin.headers).status_code == 200

    def quote(amount: int) -> str:
        body = {"sell": "USD", "buy": "EUR", "sell_amount": amount}
        return str(client.post("/v1/fx/quotes", json=body, headers=alice.headers).json()["quote_id"])

    key = {"Idempotency-Key": str(uuid.uuid4())}
    with open_stream(client, alice) as alices, open_stream(client, bob) as bobs:
        alices.next(), bobs.next()
        exchanged = client.post(
            "/v1/fx/exchange", json={"quote_id": quote(4_000)}, headers=alice.headers | key
        )
        paid_quote = quote(6_000)
        paid = client.post(
            "/v1/transfers",
            json={"amount": 6_000, "currency": "USD", "to_email": bob.email, "quote_id": paid_quote},
            headers=alice.headers | {"Idempotency-Key": str(uuid.uuid4())},
        )
        alice_frames = [payload(alices.next_event()) for _ in range(2)]
        bob_frame = payload(bobs.next_event())

    assert exchanged.status_code == 201 and paid.status_code == 201, (exchanged.text, paid.text)
    assert [(f["type"], f["transfer"]["id"]) for f in alice_frames] == [
        ("fx.exchanged", exchanged.json()["id"]),
        ("transfer.sent", paid.json()["id"]),
    ]
    assert alice_frames[0]["transfer"]["fx"] == exchanged.json()["fx"]
    assert (bob_frame["type"], bob_frame["transfer"]["direction"]) == ("transfer.received", "in")
    assert bob_frame["transfer"]["fx"]["quote_id"] == paid_quote


@pytest.mark.parametrize("resume", ["Last-Event-ID header", "after query parameter"])
def test_resuming_sends_only_the_events_after_the_last_one_seen(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, resume: str
) -> None:
    api.deposit(admin, alice.email, 10_000)  # 3
    sent(api, alice, bob, 100)  # 4
    missed = sent(api, alice, bob, 200)  # 5
    where = {"last_event_id": "4"} if resume.startswith("Last") else {"after": 4}
    with open_stream(client, alice, **where) as frames:  # type: ignore[arg-type]
        assert frames.next() == Frame({"retry": "1000", "id": "4"})
        caught_up = frames.next_event()
        live = sent(api, alice, bob, 300)  # 6
        following = frames.next_event()
    assert [(f.id, payload(f)["transfer"]["id"]) for f in (caught_up, following)] == [
        ("5", missed),
        ("6", live),
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
    client: TestClient, db: Database, settings: Settings, api: Api, admin: Account, alice: Account
) -> None:
    with open_stream(client, alice, last_event_id="0") as frames:
        assert frames.next().id == "0"
        history = frames.events(1)
        resent = client.post("/v1/auth/verify-email/resend", headers=alice.headers)
        assert resent.status_code == 202, resent.text
        api.deposit(admin, alice.email, 500)
        after_resend = frames.next_event()
    shown = [(f.id, payload(f)["type"]) for f in [*history, after_resend]]
    assert shown == [("1", "user.signed_up"), ("4", "wallet.deposit")]
    sealed = [
        json.loads(row.payload)[verification.SEALED_CODE_KEY]
        for row in db.run(
            lambda s: s.exec(
                select(OutboxEvent).where(
                    OutboxEvent.aggregate_key == alice.user_id,
                    col(OutboxEvent.event_type) == "user.email_verification",
                )
            ).all()
        )
    ]
    codes = [verification.open_code(settings, alice.user_id, code) for code in sealed]
    assert len(codes) == 2
    for frame in frames.seen:
        assert '"code"' not in (frame.data or ""), frame
        assert not any(f'"{code}"' in (frame.data or "") for code in codes), frame
        assert not any(code in (frame.data or "") for code in sealed), frame


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

    assert by_header["detail"] == f"event {ahead} has not happened on this stream; the latest is 2"
    assert by_query == by_header
    with open_stream(client, alice, last_event_id=str(EVENTS_AFTER_SIGNUP)) as frames:
        assert frames.next().id == str(EVENTS_AFTER_SIGNUP)


def sent_raw(client: TestClient, account: Account, header: bytes, value: bytes) -> httpx.Response:
    """GET /v1/stream with a header value sent as these very bytes.

    TestClient re-encodes header values as UTF-8 on their way into the app; a client on
    the wire can send any Latin-1 byte, so the request goes through httpx's ASGI
    transport, which hands the raw bytes over as a server does.
    """

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            headers = [(b"authorization", f"Bearer {account.access_token}".encode()), (header, value)]
            return await asyncio.wait_for(http.get("/v1/stream", headers=headers), timeout=10)

    return asyncio.run(get())


@pytest.mark.parametrize("last_event_id", [b"\xb2", b"\xb3", b"\xb9", b"1\xb2"], ids=["²", "³", "¹", "1²"])
def test_a_last_event_id_of_superscript_digits_is_refused(
    client: TestClient, alice: Account, last_event_id: bytes
) -> None:
    # Superscript digits are one Latin-1 byte each on the wire, and str.isdigit() takes them.
    response = sent_raw(client, alice, b"last-event-id", last_event_id)
    problem = assert_problem(response, 400, "bad_request")
    assert problem["detail"] == "Last-Event-ID must be an event id this stream sent"


# --- A stream lives no longer than the session that opened it -------------------------


def frames_until_the_end(frames: FrameReader, within: float = 15.0) -> list[Frame]:
    """Every frame up to the end of the stream; fails if it is still open after `within` s."""
    deadline = time.monotonic() + within
    received: list[Frame] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(frames.next(timeout=left))
        except AssertionError as error:
            if "the stream ended" in str(error):
                return received
            raise
    raise AssertionError(f"the stream was still open after {within}s; frames: {frames.seen}")


def funded(api: Api, admin: Account, account: Account, amount: int = 10_000) -> Account:
    api.deposit(admin, account.email, amount)
    return account


def log_out(client: TestClient, account: Account, _admin: Account) -> None:
    response = client.post("/v1/auth/logout", headers=account.headers)
    assert response.status_code == 204, response.text


def change_password_from_another_session(client: TestClient, account: Account, _admin: Account) -> None:
    other_session = Api(client).login(account.email, account.password)
    response = client.post(
        "/v1/me/password",
        json={"current_password": account.password, "new_password": "a-brand-new-password"},
        headers=other_session.headers,
    )
    assert response.status_code == 204, response.text


def freeze_the_account(client: TestClient, account: Account, admin: Account) -> None:
    response = client.post(
        f"/v1/admin/users/{account.email}/freeze", json={"reason": "stream test"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text


ENDINGS = [
    pytest.param(log_out, 201, (401, "session_revoked"), id="logout"),
    pytest.param(
        change_password_from_another_session, 201, (401, "session_revoked"), id="password-changed-elsewhere"
    ),
    pytest.param(freeze_the_account, 409, (403, "account_frozen"), id="account-frozen"),
]
"""How the session ends, what a payment to its owner gets afterwards (a frozen account
receives nothing), and the answer to connecting again."""


@pytest.mark.parametrize(("end_session", "payment_after", "reconnecting"), ENDINGS)
def test_the_stream_ends_with_the_session_and_sends_nothing_committed_after(
    client: TestClient,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    end_session: Any,
    payment_after: int,
    reconnecting: tuple[int, str],
) -> None:
    funded(api, admin, bob)
    with open_stream(client, alice) as frames:
        start = int(frames.next().id or "")
        before = sent(api, bob, alice, 100)
        assert payload(frames.next_event())["transfer"]["id"] == before

        end_session(client, alice, admin)
        # News for alice, committed after her session ended.
        assert api.transfer(bob, alice.email, 200).status_code == payment_after
        set_wallet_frozen(client, admin, alice, True)
        set_wallet_frozen(client, admin, alice, False)
        after_the_end = frames_until_the_end(frames)

    assert [frame for frame in after_the_end if frame.data is not None] == []
    assert [frame.id for frame in frames.seen if frame.data is not None] == [str(start + 1)]
    # Connecting again is refused: the follower learns why the stream ended.
    assert_problem(refused(client, alice, {}), *reconnecting)


@pytest.mark.slow
def test_the_stream_ends_when_its_access_token_expires(
    database_url: str, db: Database, tmp_path: Path, admin: Account
) -> None:
    short_lived = make_settings(database_url, tmp_path, access_token_ttl=1)
    with TestClient(create_app(short_lived, db), raise_server_exceptions=False) as client:
        api = Api(client)
        carol = funded(api, api.login(admin.email), api.signup("carol@example.com"))
        with open_stream(client, carol) as frames:
            opened = time.monotonic()
            frames.next()
            ended = frames_until_the_end(frames, within=30)
            lasted = time.monotonic() - opened
        assert [frame for frame in ended if frame.data is not None] == []
        assert_problem(refused(client, carol, {}), 401, "token_expired")
    # exp is 1 s away and decoding allows 5 s of clock skew; the next check after that ends it.
    assert lasted < 30, lasted


# --- How many streams one person may hold --------------------------------------------


@pytest.fixture
def two_streams_each(database_url: str, db: Database, tmp_path: Path) -> Iterator[TestClient]:
    capped = make_settings(database_url, tmp_path, max_streams_per_user=2)
    with TestClient(create_app(capped, db), raise_server_exceptions=False) as client:
        yield client


def test_a_stream_beyond_the_per_user_cap_answers_429_and_other_users_are_unaffected(
    two_streams_each: TestClient,
) -> None:
    client = two_streams_each
    api = Api(client)
    alice, bob = api.signup("alice@example.com"), api.signup("bob@example.com")
    alice_on_a_laptop = api.login(alice.email)
    with open_stream(client, alice) as first, open_stream(client, alice_on_a_laptop) as second:
        first.next(), second.next()
        third = refused(client, alice, {})
        problem = assert_problem(third, 429, "too_many_streams")
        assert problem["detail"] == (
            "alice@example.com already has 2 open event streams on this daemon (the most allowed); "
            "close one (another history --follow?) and try again"
        )
        assert third.headers["Retry-After"] == "5"
        with open_stream(client, bob) as bobs:
            assert bobs.next().id == str(EVENTS_AFTER_SIGNUP)


def test_a_closed_stream_frees_its_place_under_the_cap(two_streams_each: TestClient) -> None:
    client = two_streams_each
    alice = Api(client).signup("alice@example.com")
    hub = client.app.state.stream_hub  # type: ignore[attr-defined]
    with open_stream(client, alice) as first:
        first.next()
        with open_stream(client, alice) as second:
            second.next()
            assert hub.open_streams(alice.user_id) == 2
        wait_until(lambda: hub.open_streams(alice.user_id) == 1, 10, "the closed stream to be let go")
        with open_stream(client, alice) as again:
            assert again.next().id == str(EVENTS_AFTER_SIGNUP)
