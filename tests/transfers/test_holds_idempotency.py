"""Every hold operation is idempotent under its key: the same request replays the first
answer word for word and moves nothing again; another request under the key is refused."""

from __future__ import annotations

import pytest

from tests.support.api import Account, Api
from tests.transfers.holds_helpers import act, place, wallet


def test_placing_twice_with_one_key_holds_once(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)

    first = place(api, alice, bob, 400, key="place-1")
    again = place(api, alice, bob, 400, key="place-1")
    other = place(api, alice, bob, 401, key="place-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert (first.headers.get("Idempotency-Replayed"), again.headers["Idempotency-Replayed"]) == (
        None,
        "true",
    )
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert wallet(api, alice) == (1_000, 400, 600)
    assert len(api.client.get("/v1/holds", headers=alice.headers).json()["items"]) == 1


@pytest.mark.parametrize(
    ("action", "body", "other_body", "who"),
    [
        ("capture", {"amount": 100}, {"amount": 101}, "payer"),
        ("capture", {}, {"amount": 1}, "payer"),
        ("void", {}, None, "payer"),
        ("decline", {}, None, "payee"),
        ("extend", {"expires_in": 7_200}, {"expires_in": 7_201}, "payer"),
    ],
)
def test_each_hold_operation_replays_under_its_key_and_refuses_another_request(
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    action: str,
    body: dict[str, int],
    other_body: dict[str, int] | None,
    who: str,
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500).json()["id"]
    other_hold = place(api, alice, bob, 50).json()["id"]
    actor = alice if who == "payer" else bob

    first = act(api, actor, hold_id, action, body, key="op-1")
    after_first = wallet(api, alice), wallet(api, bob)
    again = act(api, actor, hold_id, action, body, key="op-1")
    different = (
        act(api, actor, hold_id, action, other_body, key="op-1")
        if other_body is not None
        else act(api, actor, other_hold, action, body, key="op-1")
    )

    assert first.status_code == 201, first.text
    assert (again.status_code, again.headers["Idempotency-Replayed"]) == (201, "true")
    assert again.content == first.content
    assert (different.status_code, different.json()["code"]) == (409, "idempotency_key_reused")
    assert (wallet(api, alice), wallet(api, bob)) == after_first


def test_a_refused_capture_stays_refused_under_its_key(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    hold_id = place(api, alice, bob, 500).json()["id"]

    refused = act(api, alice, hold_id, "capture", {"amount": 600}, key="too-much")
    act(api, alice, hold_id, "extend", {"expires_in": 7_200})
    again = act(api, alice, hold_id, "capture", {"amount": 600}, key="too-much")

    assert (refused.status_code, refused.json()["code"]) == (409, "hold_amount_exceeded")
    assert (again.status_code, again.headers["Idempotency-Replayed"]) == (409, "true")
    assert again.json() == refused.json()


def test_a_hold_key_is_not_a_transfer_key(api: Api, admin: Account, alice: Account, bob: Account) -> None:
    api.deposit(admin, alice.email, 1_000)
    assert place(api, alice, bob, 100, key="shared").status_code == 201

    transfer = api.client.post(
        "/v1/transfers",
        json={"to_email": bob.email, "amount": 100, "currency": "USD"},
        headers={**alice.headers, "Idempotency-Key": "shared"},
    )

    assert (transfer.status_code, transfer.json()["code"]) == (409, "idempotency_key_reused")
