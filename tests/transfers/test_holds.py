"""Holds over HTTP: place, capture in parts, void the rest; expiry inside the transaction;
refusals and who may do what. Every test runs on SQLite and on Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gopherpayd.kit.clock import utcnow
from gopherpayd.transfers import engine
from tests.support.api import Account, Api
from tests.transfers.holds_helpers import act, place, wallet


def test_place_capture_twice_then_void_keeps_posted_held_and_available_right(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)

    placed = place(api, alice, bob, 5_000, memo="deposit for the flat")
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["status"], hold["amount"], hold["remaining"], hold["role"]) == (
        "open",
        5_000,
        5_000,
        "payer",
    )
    assert (hold["payer"]["email"], hold["payee"]["email"], hold["memo"]) == (
        alice.email,
        bob.email,
        "deposit for the flat",
    )
    assert wallet(api, alice) == (10_000, 5_000, 5_000)
    assert wallet(api, bob) == (0, 0, 0)

    first = act(api, alice, hold["id"], "capture", {"amount": 1_500})
    assert first.status_code == 201, first.text
    assert (first.json()["captured"], first.json()["remaining"], first.json()["status"]) == (
        1_500,
        3_500,
        "open",
    )
    capture = first.json()["capture"]
    assert (capture["amount"], capture["kind"], capture["recipient"]["email"]) == (
        1_500,
        "transfer",
        bob.email,
    )
    assert wallet(api, alice) == (8_500, 3_500, 5_000)
    assert wallet(api, bob) == (1_500, 0, 1_500)

    second = act(api, alice, hold["id"], "capture", {"amount": 1_000})
    assert second.status_code == 201, second.text
    assert wallet(api, alice) == (7_500, 2_500, 5_000)
    assert wallet(api, bob) == (2_500, 0, 2_500)

    voided = act(api, alice, hold["id"], "void")
    assert voided.status_code == 201, voided.text
    assert (voided.json()["status"], voided.json()["captured"], voided.json()["released"]) == (
        "voided",
        2_500,
        2_500,
    )
    assert voided.json()["remaining"] == 0
    assert wallet(api, alice) == (7_500, 0, 7_500)
    assert wallet(api, bob) == (2_500, 0, 2_500)
    assert api.audit(admin)["ok"] is True


def test_a_capture_of_everything_left_closes_the_hold_as_captured(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 600).json()["id"]
    assert act(api, alice, hold_id, "capture", {"amount": 100}).status_code == 201

    rest = api.client.post(
        f"/v1/holds/{hold_id}/capture", json={}, headers={**alice.headers, "Idempotency-Key": "all-of-it"}
    )

    assert rest.status_code == 201, rest.text
    assert (rest.json()["status"], rest.json()["captured"], rest.json()["remaining"]) == ("captured", 600, 0)
    assert wallet(api, alice) == (400, 0, 400)
    again = act(api, alice, hold_id, "capture", {"amount": 1})
    assert (again.status_code, again.json()["code"]) == (409, "hold_not_open")


def test_held_money_cannot_be_sent_or_held_twice(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    assert place(api, alice, bob, 800).status_code == 201

    sent = api.transfer(alice, bob.email, 300)
    held = place(api, alice, bob, 300)

    assert (sent.status_code, sent.json()["code"]) == (409, "insufficient_funds")
    assert sent.json()["detail"].endswith("has 2.00 USD available, transfer needs 3.00 USD")
    assert (held.status_code, held.json()["code"]) == (409, "insufficient_funds")
    assert api.transfer(alice, bob.email, 200).status_code == 201
    assert wallet(api, alice) == (800, 800, 0)


def test_a_capture_one_millisecond_after_expiry_is_refused_though_no_sweeper_ran(
    api: Api, admin: Account, alice: Account, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.deposit(admin, alice.email, 1_000)
    expires_at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    hold = place(api, alice, bob, 500, expires_in=None, expires_at=expires_at.isoformat()).json()

    monkeypatch.setattr(engine, "utcnow", lambda: expires_at)
    at_expiry = act(api, alice, hold["id"], "capture", {"amount": 100})
    monkeypatch.setattr(engine, "utcnow", lambda: expires_at + timedelta(milliseconds=1))
    after = act(api, alice, hold["id"], "capture", {"amount": 100})
    void_after = act(api, alice, hold["id"], "void")

    assert at_expiry.status_code == 201, at_expiry.text
    assert (after.status_code, after.json()["code"]) == (409, "hold_expired")
    assert (void_after.status_code, void_after.json()["code"]) == (409, "hold_expired")
    assert wallet(api, alice) == (900, 400, 500)
    assert wallet(api, bob) == (100, 0, 100)


def test_refusals_have_their_codes_and_change_nothing(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500).json()["id"]

    too_much = act(api, alice, hold_id, "capture", {"amount": 501})
    zero = act(api, alice, hold_id, "capture", {"amount": 0})
    no_key = api.client.post(f"/v1/holds/{hold_id}/void", headers=alice.headers)
    earlier = act(api, alice, hold_id, "extend", {"expires_in": 60})
    unknown = place(api, alice, alice, 100)
    nobody = api.client.post(
        "/v1/holds",
        json={"to": "nobody@example.com", "amount": 1, "currency": "USD", "expires_in": 60},
        headers={**alice.headers, "Idempotency-Key": "nobody"},
    )
    both = place(api, alice, bob, 100, expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    past = place(
        api, alice, bob, 100, expires_in=None, expires_at=(utcnow() - timedelta(seconds=1)).isoformat()
    )
    float_amount = place(api, alice, bob, 1.5)  # type: ignore[arg-type]

    assert [r.status_code for r in (too_much, zero, no_key, earlier)] == [409, 400, 400, 400]
    assert [r.json()["code"] for r in (too_much, zero, no_key, earlier)] == [
        "hold_amount_exceeded",
        "invalid_amount",
        "idempotency_key_required",
        "invalid_expiry",
    ]
    assert (unknown.status_code, unknown.json()["code"]) == (400, "self_transfer")
    assert (nobody.status_code, nobody.json()["code"]) == (404, "recipient_not_found")
    assert (both.status_code, past.status_code, float_amount.status_code) == (422, 400, 422)
    assert past.json()["code"] == "invalid_expiry"
    assert wallet(api, alice) == (1_000, 500, 500)


def test_extend_moves_the_expiry_later_so_a_capture_after_the_old_one_succeeds(
    api: Api, admin: Account, alice: Account, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold = place(api, alice, bob, 500, expires_in=60).json()
    extended = act(api, alice, hold["id"], "extend", {"expires_in": 7_200})
    assert extended.status_code == 201, extended.text
    assert extended.json()["expires_at"] > hold["expires_at"]

    later = utcnow() + timedelta(hours=1)
    monkeypatch.setattr(engine, "utcnow", lambda: later)
    captured = act(api, alice, hold["id"], "capture", {"amount": 500})

    assert captured.status_code == 201, captured.text
    assert captured.json()["status"] == "captured"


def test_the_payee_declines_and_the_payer_gets_the_money_back(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 700).json()["id"]

    declined = act(api, bob, hold_id, "decline")

    assert declined.status_code == 201, declined.text
    assert (declined.json()["status"], declined.json()["released"], declined.json()["role"]) == (
        "declined",
        700,
        "payee",
    )
    assert wallet(api, alice) == (1_000, 0, 1_000)


def test_who_may_do_what(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    carol = api.signup("carol@example.com")
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500).json()["id"]

    stranger = [
        act(api, carol, hold_id, action, {"expires_in": 7200} if action == "extend" else None)
        for action in ("capture", "void", "decline", "extend")
    ]
    stranger_get = api.client.get(f"/v1/holds/{hold_id}", headers=carol.headers)
    payee = [
        act(api, bob, hold_id, action, {"expires_in": 7200} if action == "extend" else None)
        for action in ("capture", "void", "extend")
    ]
    payer_decline = act(api, alice, hold_id, "decline")
    payee_get = api.client.get(f"/v1/holds/{hold_id}", headers=bob.headers)
    operator_capture = act(api, admin, hold_id, "capture", {"amount": 100})

    assert [(r.status_code, r.json()["code"]) for r in [*stranger, stranger_get]] == [
        (404, "hold_not_found")
    ] * 5
    assert [(r.status_code, r.json()["code"]) for r in [*payee, payer_decline]] == [
        (403, "hold_action_forbidden")
    ] * 4
    assert (payee_get.status_code, payee_get.json()["role"]) == (200, "payee")
    assert operator_capture.status_code == 201, operator_capture.text
    assert operator_capture.json()["role"] is None
    assert wallet(api, alice) == (900, 400, 500)
    operator_void = act(api, admin, hold_id, "void")
    assert operator_void.status_code == 201
    log = api.client.get("/v1/admin/audit-log", headers=admin.headers).json()
    actions = [row["action"] for row in log["items"]]
    assert actions[:2] == ["hold.void", "hold.capture"]


def test_listing_shows_the_callers_holds_and_open_ones_on_request(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    first = place(api, alice, bob, 100).json()["id"]
    second = place(api, alice, bob, 200).json()["id"]
    act(api, alice, first, "void")

    all_of_alice = api.client.get("/v1/holds", headers=alice.headers).json()
    open_of_bob = api.client.get("/v1/holds?open=true", headers=bob.headers).json()
    paged = api.client.get("/v1/holds?limit=1", headers=alice.headers).json()
    next_page = api.client.get(
        f"/v1/holds?limit=1&cursor={paged['next_cursor']}", headers=alice.headers
    ).json()

    assert [h["id"] for h in all_of_alice["items"]] == [second, first]
    assert [(h["id"], h["role"]) for h in open_of_bob["items"]] == [(second, "payee")]
    assert [h["id"] for h in paged["items"] + next_page["items"]] == [second, first]
    assert next_page["next_cursor"] is None


def test_captures_show_in_history_as_transfers(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500, memo="taxi").json()["id"]
    capture_id = act(api, alice, hold_id, "capture", {"amount": 300}).json()["capture"]["id"]

    bobs = api.client.get("/v1/transfers", headers=bob.headers).json()["items"]

    assert [(t["id"], t["amount"], t["direction"], t["memo"]) for t in bobs] == [
        (capture_id, 300, "in", "taxi")
    ]


def test_a_request_that_breaks_two_rules_gets_the_code_of_the_first_in_the_documented_order(
    api: Api, admin: Account, alice: Account, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = api.signup("carol@example.com")
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500, expires_in=60).json()["id"]
    voided_id = place(api, alice, bob, 100, expires_in=60).json()["id"]
    assert act(api, alice, voided_id, "void").status_code == 201
    later = utcnow() + timedelta(minutes=5)
    monkeypatch.setattr(engine, "utcnow", lambda: later)

    cases = {
        "stranger, bad amount": act(api, carol, hold_id, "capture", {"amount": 0}),
        "payee, bad amount": act(api, bob, hold_id, "capture", {"amount": 0}),
        "bad amount, expired": act(api, alice, hold_id, "capture", {"amount": 0}),
        "expired, too much": act(api, alice, hold_id, "capture", {"amount": 501}),
        "voided and past expiry": act(api, alice, voided_id, "capture", {"amount": 1}),
        "extend expired to earlier": act(api, alice, hold_id, "extend", {"expires_in": 1}),
        "place: zero to nobody": api.client.post(
            "/v1/holds",
            json={"to": "nobody@example.com", "amount": 0, "currency": "USD", "expires_in": 60},
            headers={**alice.headers, "Idempotency-Key": "two-rules"},
        ),
        "place: nobody, more than available": api.client.post(
            "/v1/holds",
            json={"to": "nobody@example.com", "amount": 5_000, "currency": "USD", "expires_in": 60},
            headers={**alice.headers, "Idempotency-Key": "two-rules-2"},
        ),
    }

    assert {label: response.json()["code"] for label, response in cases.items()} == {
        "stranger, bad amount": "hold_not_found",
        "payee, bad amount": "hold_action_forbidden",
        "bad amount, expired": "invalid_amount",
        "expired, too much": "hold_expired",
        "voided and past expiry": "hold_not_open",
        "extend expired to earlier": "hold_expired",
        "place: zero to nobody": "invalid_amount",
        "place: nobody, more than available": "recipient_not_found",
    }
