"""POST /v1/transfers/batch: many transfers, each with its own key, independent or atomic."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.app import MAX_BATCH_BODY_BYTES
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import writer
from tests.support.api import Account, Api

BATCH = "/v1/transfers/batch"
COUNTED_TABLES = ("transfers", "entries", "idempotency_keys", "outbox")


def item(to: str, amount: int, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"to_email": to, "amount": amount, "currency": "USD", "key": key or str(uuid.uuid4()), **extra}


def post_batch(client: TestClient, sender: Account, items: list[Any], mode: str | None = None) -> Any:
    body: dict[str, Any] = {"items": items}
    if mode is not None:
        body["mode"] = mode
    return client.post(BATCH, json=body, headers=sender.headers)


def row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608
            for table in COUNTED_TABLES
        }


def balance(client: TestClient, account: Account) -> int:
    """The USD balance, 0 for a wallet never opened (no transfer reached it)."""
    response = client.get("/v1/wallets/USD", headers=account.headers)
    if response.status_code == 404:
        return 0
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def codes(response: Any) -> list[str | None]:
    return [r["problem"]["code"] if r["problem"] else None for r in response.json()["results"]]


@pytest.fixture
def carol(api: Api) -> Account:
    return api.signup("carol@example.com", name="Carol Payee")


def test_atomic_batch_moves_every_item_in_order_and_answers_201(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    items = [
        item(bob.email, 100, "a-1", memo="one"),
        item(carol.email, 200, "a-2"),
        item(bob.email, 300, "a-3"),
    ]

    response = post_batch(client, alice, items, mode="atomic")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["mode"] == "atomic"
    assert [(r["index"], r["key"], r["status"], r["replayed"]) for r in body["results"]] == [
        (0, "a-1", 201, False),
        (1, "a-2", 201, False),
        (2, "a-3", 201, False),
    ]
    assert [r["transfer"]["amount"] for r in body["results"]] == [100, 200, 300]
    assert body["results"][0]["transfer"]["memo"] == "one"
    assert all(r["problem"] is None for r in body["results"])
    assert (api.balance(alice), api.balance(bob), api.balance(carol)) == (400, 400, 200)


def test_atomic_batch_with_one_refused_item_moves_nothing_and_stores_nothing(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    api.deposit(admin, bob.email, 50)
    before = row_counts(db)
    items = [item(bob.email, 100), item(carol.email, 5_000), item(bob.email, 300)]

    response = post_batch(client, alice, items, mode="atomic")

    assert response.status_code == 409, response.text
    assert [r["status"] for r in response.json()["results"]] == [409, 409, 409]
    assert codes(response) == ["linked_failed", "insufficient_funds", "linked_failed"]
    assert all(r["transfer"] is None for r in response.json()["results"])
    assert row_counts(db) == before
    assert (api.balance(alice), api.balance(bob)) == (1_000, 50)
    # No key was stored: the same keys, with enough money, now move.
    api.deposit(admin, alice.email, 5_000)
    retried = post_batch(client, alice, items, mode="atomic")
    assert retried.status_code == 201, retried.text
    assert [r["replayed"] for r in retried.json()["results"]] == [False, False, False]


def test_atomic_batch_with_an_invalid_item_refuses_it_and_links_the_others(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    before = row_counts(db)
    items = [item(bob.email, 100), {**item(bob.email, 100), "currency": "XYZ"}, item(bob.email, 100)]

    response = post_batch(client, alice, items, mode="atomic")

    assert response.status_code == 409, response.text
    assert codes(response) == ["linked_failed", "unsupported_currency", "linked_failed"]
    assert row_counts(db) == before
    assert api.balance(alice) == 1_000


def test_independent_batch_gives_each_item_its_own_result(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    items = [
        item(bob.email, 100, "i-ok"),
        item(carol.email, 5_000, "i-poor"),
        {**item(bob.email, 1), "currency": "XYZ"},
        item(bob.email, 0, "i-zero"),
        {**item(bob.email, 1), "key": ""},
        {**item(bob.email, 1), "amount": "ten"},
        item("nobody@example.com", 10, "i-nobody"),
        item(alice.email, 10, "i-self"),
        item(carol.email, 200, "i-ok-2"),
    ]

    response = post_batch(client, alice, items)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert response.json()["mode"] == "independent"
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [201, 409, 400, 400, 400, 422, 404, 400, 201]
    assert codes(response) == [
        None,
        "insufficient_funds",
        "unsupported_currency",
        "invalid_amount",
        "idempotency_key_required",
        "invalid_amount",
        "recipient_not_found",
        "self_transfer",
        None,
    ]
    assert results[5]["problem"]["errors"][0]["loc"] == ["items", 5, "amount"]
    assert "ten" not in str(results[5]["problem"])  # the rejected input is never echoed
    assert (api.balance(alice), api.balance(bob), api.balance(carol)) == (700, 100, 200)


def test_independent_batch_items_coalesce_into_the_writers_batches(
    client: TestClient,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    db: Database,
    settings: Settings,
) -> None:
    api.deposit(admin, alice.email, 100_000)
    before = writer.writer_of(db, settings).stats.batches

    response = post_batch(client, alice, [item(bob.email, 1) for _ in range(200)])

    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {201}
    assert api.balance(bob) == 200
    commits = writer.writer_of(db, settings).stats.batches - before
    assert 1 <= commits < 200


def test_a_batch_of_1000_fits_and_1001_is_refused_moving_nothing(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    # The largest items the schema accepts: 1000 of them still fit the body limit.
    memo = "\N{GRINNING FACE}" * 280
    big = [item(bob.email, 1, f"big-{i:04d}-" + "k" * 180, memo=memo) for i in range(1000)]
    assert len(str(big).encode()) < MAX_BATCH_BODY_BYTES
    before = row_counts(db)

    too_many = post_batch(client, alice, [*big, item(bob.email, 1)])

    assert too_many.status_code == 422, too_many.text
    assert too_many.headers["content-type"] == "application/problem+json"
    assert too_many.json()["code"] == "validation_error"
    assert "items" in too_many.json()["detail"]
    assert row_counts(db) == before

    fits = post_batch(client, alice, big, mode="atomic")
    assert fits.status_code == 201, fits.text[:500]
    assert api.balance(bob) == 1_000


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"items": []}, "validation_error"),
        (
            {"mode": "sometimes", "items": [{"to_email": "b@example.com", "amount": 1, "currency": "USD"}]},
            None,
        ),
        ({"items": ["not an object"]}, "validation_error"),
        ({"items": [{}], "extra": 1}, "validation_error"),
        ({}, "validation_error"),
    ],
)
def test_a_body_invalid_as_a_whole_is_a_problem_document(
    client: TestClient, db: Database, alice: Account, body: dict[str, Any], code: str | None
) -> None:
    response = client.post(BATCH, json=body, headers=alice.headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == (code or "validation_error")
    assert row_counts(db)["transfers"] == 0


def test_malformed_json_and_oversized_bodies_are_refused(client: TestClient, alice: Account) -> None:
    malformed = client.post(
        BATCH, content=b'{"items": [', headers={**alice.headers, "Content-Type": "application/json"}
    )
    oversized = client.post(
        BATCH,
        content=b" " * (MAX_BATCH_BODY_BYTES + 1),
        headers={**alice.headers, "Content-Type": "application/json"},
    )

    assert (malformed.status_code, malformed.json()["code"]) == (422, "validation_error")
    assert (oversized.status_code, oversized.json()["code"]) == (413, "payload_too_large")


def test_the_single_endpoint_keeps_its_smaller_body_limit(client: TestClient, alice: Account) -> None:
    response = client.post(
        "/v1/transfers",
        content=b" " * (64 * 1024 + 1),
        headers={**alice.headers, "Content-Type": "application/json", "Idempotency-Key": "x"},
    )

    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_keys_replay_across_the_single_and_the_batch_endpoints(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    single = api.transfer(alice, bob.email, 100, key="k-single", memo="rent")
    assert single.status_code == 201, single.text

    response = post_batch(
        client, alice, [item(bob.email, 100, "k-single", memo="rent"), item(bob.email, 200, "k-batch")]
    )
    again = api.transfer(alice, bob.email, 200, key="k-batch")

    results = response.json()["results"]
    assert [(r["status"], r["replayed"]) for r in results] == [(201, True), (201, False)]
    assert results[0]["transfer"]["id"] == single.json()["id"]
    assert again.status_code == 201, again.text
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == results[1]["transfer"]["id"]
    assert (api.balance(alice), api.balance(bob)) == (700, 300)


def test_a_key_reused_for_a_different_request_is_refused_in_both_modes(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    assert api.transfer(alice, bob.email, 100, key="k-used").status_code == 201
    before = row_counts(db)

    independent = post_batch(client, alice, [item(bob.email, 101, "k-used"), item(bob.email, 5, "k-new")])
    atomic = post_batch(
        client, alice, [item(bob.email, 7, "k-other"), item(bob.email, 102, "k-used")], "atomic"
    )

    assert codes(independent) == ["idempotency_key_reused", None]
    assert independent.json()["results"][0]["status"] == 409
    assert atomic.status_code == 409
    assert codes(atomic) == ["linked_failed", "idempotency_key_reused"]
    assert row_counts(db)["transfers"] == before["transfers"] + 1
    assert (api.balance(alice), api.balance(bob)) == (895, 105)


@pytest.mark.parametrize("mode", ["independent", "atomic"])
def test_a_key_repeated_inside_one_batch_replays_the_first_item(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, mode: str
) -> None:
    api.deposit(admin, alice.email, 1_000)
    items = [item(bob.email, 100, "dup"), item(bob.email, 50, "other"), item(bob.email, 100, "dup")]

    response = post_batch(client, alice, items, mode)

    results = response.json()["results"]
    assert [(r["status"], r["replayed"]) for r in results] == [(201, False), (201, False), (201, True)]
    assert results[2]["transfer"]["id"] == results[0]["transfer"]["id"]
    assert api.balance(bob) == 150


def test_a_key_repeated_with_a_different_request_inside_one_batch_is_refused(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)

    response = post_batch(client, alice, [item(bob.email, 100, "dup"), item(bob.email, 99, "dup")])

    assert codes(response) == [None, "idempotency_key_reused"]
    assert api.balance(bob) == 100


def test_repeated_keys_hold_across_the_writers_batches(
    client: TestClient,
    api: Api,
    admin: Account,
    alice: Account,
    bob: Account,
    db: Database,
    settings: Settings,
) -> None:
    """With one movement per writer batch, every repeat meets its first item in an earlier commit."""
    settings.transfer_batch_max = 1
    api.deposit(admin, alice.email, 1_000)
    before = writer.writer_of(db, settings).stats.batches
    items = [
        item(bob.email, 10, "x"),
        item(bob.email, 20, "y"),
        item(bob.email, 10, "x"),
        item(bob.email, 21, "y"),
    ]

    response = post_batch(client, alice, items)

    results = response.json()["results"]
    assert writer.writer_of(db, settings).stats.batches - before == 4
    assert [(r["status"], r["replayed"]) for r in results[:3]] == [(201, False), (201, False), (201, True)]
    assert results[2]["transfer"]["id"] == results[0]["transfer"]["id"]
    assert codes(response)[3] == "idempotency_key_reused"
    assert api.balance(bob) == 30


def test_a_replayed_refusal_stays_refused_in_a_batch(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10)
    first = post_batch(client, alice, [item(bob.email, 100, "poor")])
    api.deposit(admin, alice.email, 1_000)
    again = post_batch(client, alice, [item(bob.email, 100, "poor")])

    assert codes(first) == ["insufficient_funds"]
    assert codes(again) == ["insufficient_funds"]
    assert again.json()["results"][0]["replayed"] is True
    assert balance(client, bob) == 0


def test_a_batch_needs_a_token(client: TestClient) -> None:
    response = client.post(BATCH, json={"items": [item("bob@example.com", 1)]})

    assert (response.status_code, response.json()["code"]) == (401, "authentication_required")


def test_a_frozen_sender_is_refused_and_nothing_moves(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    frozen = client.post(
        f"/v1/admin/users/{alice.email}/freeze", json={"reason": "test"}, headers=admin.headers
    )
    assert frozen.status_code == 200, frozen.text

    response = post_batch(client, alice, [item(bob.email, 1)])

    assert response.status_code in (401, 403), response.text
    assert balance(client, bob) == 0


def test_a_frozen_recipient_refuses_only_its_items(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, carol: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    frozen = client.post(
        f"/v1/admin/users/{bob.email}/freeze", json={"reason": "test"}, headers=admin.headers
    )
    assert frozen.status_code == 200, frozen.text

    response = post_batch(client, alice, [item(bob.email, 1), item(carol.email, 2)])

    assert codes(response) == ["recipient_frozen", None]
    assert api.balance(carol) == 2


def test_an_unverified_sender_is_refused_when_verification_is_required(
    client: TestClient, settings: Settings, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    settings.require_verified_email = True

    independent = post_batch(client, alice, [item(bob.email, 1), item(bob.email, 2)])
    atomic = post_batch(client, alice, [item(bob.email, 1), item(bob.email, 2)], "atomic")

    assert codes(independent) == ["email_not_verified", "email_not_verified"]
    assert codes(atomic) == ["email_not_verified", "linked_failed"]
    assert balance(client, bob) == 0


def test_the_endpoint_is_documented_in_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"][BATCH]["post"]

    assert operation["summary"].startswith("Send up to 1000 transfers")
    assert {"200", "201", "409", "422"} <= set(operation["responses"])
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body_schema = spec["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert body_schema["properties"]["items"]["maxItems"] == 1000
    assert "key" in body_schema["properties"]["items"]["items"]["properties"]
