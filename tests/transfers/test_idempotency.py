"""Idempotency keys: a request that moves money does so at most once, whatever the retries."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.db import Database
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon
from tests.transfers.helpers import OperatorOf


def post_transfer(
    client: httpx.Client, sender: Account, body: dict[str, Any], key: str | None
) -> httpx.Response:
    headers = dict(sender.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/transfers", json=body, headers=headers)


def transfer_count(client: TestClient, account: Account) -> int:
    response = client.get("/v1/transfers", params={"limit": 200}, headers=account.headers)
    assert response.status_code == 200, response.text
    return sum(1 for item in response.json()["items"] if item["kind"] == "transfer")


def test_replaying_a_transfer_returns_the_stored_transfer_and_moves_money_once(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    body = {"amount": 250, "currency": "USD", "to_email": bob.email, "memo": "rent"}

    first = post_transfer(client, alice, body, "rent-2026-11")
    again = post_transfer(client, alice, body, "rent-2026-11")

    assert first.status_code == 201, first.text
    assert "Idempotency-Replayed" not in first.headers
    assert again.status_code == 201, again.text
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json() == first.json()
    assert (api.balance(alice), api.balance(bob)) == (750, 250)
    assert transfer_count(client, bob) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 251},
        {"to_email": "carol@example.com"},
        {"memo": "not rent"},
        {"currency": "EUR"},
    ],
    ids=["amount", "recipient", "memo", "currency"],
)
def test_a_key_reused_for_a_different_request_is_refused_and_moves_nothing(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, change: dict[str, Any]
) -> None:
    api.signup("carol@example.com")
    api.deposit(admin, alice.email, 1_000)
    api.deposit(admin, alice.email, 1_000, "EUR")
    body = {"amount": 250, "currency": "USD", "to_email": bob.email, "memo": "rent"}
    assert post_transfer(client, alice, body, "rent-2026-11").status_code == 201

    reused = post_transfer(client, alice, body | change, "rent-2026-11")

    assert reused.status_code == 409, reused.text
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency_key_reused"
    assert "rent-2026-11" in reused.json()["detail"]
    assert (api.balance(alice), api.balance(bob), api.balance(alice, "EUR")) == (750, 250, 1_000)
    assert transfer_count(client, alice) == 1


def test_a_refusal_for_insufficient_funds_stays_refused_under_its_key_after_a_deposit(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 100)
    body = {"amount": 500, "currency": "USD", "to_email": bob.email, "memo": None}
    refused = post_transfer(client, alice, body, "big-one")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "insufficient_funds"
    api.deposit(admin, alice.email, 1_000)  # now it would be affordable

    retried = post_transfer(client, alice, body, "big-one")

    assert retried.status_code == 409
    assert retried.headers["Idempotency-Replayed"] == "true"
    assert retried.json() == refused.json()
    assert (api.balance(alice), transfer_count(client, bob)) == (1_100, 0)

    fresh = post_transfer(client, alice, body, "big-one-again")

    assert fresh.status_code == 201, fresh.text
    assert "Idempotency-Replayed" not in fresh.headers
    assert (api.balance(alice), api.balance(bob)) == (600, 500)


def test_keys_belong_to_their_caller(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    carol = api.signup("carol@example.com")
    api.deposit(admin, alice.email, 1_000)
    api.deposit(admin, bob.email, 1_000)
    body = {"amount": 100, "currency": "USD", "to_email": carol.email, "memo": "same words"}

    from_alice = post_transfer(client, alice, body, "shared-key")
    from_bob = post_transfer(client, bob, body, "shared-key")

    assert (from_alice.status_code, from_bob.status_code) == (201, 201)
    assert "Idempotency-Replayed" not in from_bob.headers
    assert from_alice.json()["id"] != from_bob.json()["id"]
    assert from_bob.json()["sender"]["email"] == bob.email
    assert (api.balance(alice), api.balance(bob), api.balance(carol)) == (900, 900, 200)


@pytest.mark.parametrize("key", [None, ""], ids=["missing", "empty"])
def test_a_transfer_without_a_key_is_refused(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, key: str | None
) -> None:
    api.deposit(admin, alice.email, 1_000)

    response = post_transfer(client, alice, {"amount": 100, "currency": "USD", "to_email": bob.email}, key)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "idempotency_key_required"
    assert api.balance(alice) == 1_000
    assert transfer_count(client, alice) == 0


@pytest.mark.parametrize(
    "key", ["k" * 201, "caf\u00e9", "tab\tinside"], ids=["too-long", "non-ascii", "control"]
)
def test_a_malformed_key_is_refused(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, key: str
) -> None:
    api.deposit(admin, alice.email, 1_000)

    response = client.post(
        "/v1/transfers",
        json={"amount": 100, "currency": "USD", "to_email": bob.email},
        headers={**alice.headers, "Idempotency-Key": key.encode()},
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "idempotency_key_invalid"
    assert api.balance(alice) == 1_000


def test_a_deposit_replayed_with_its_key_credits_once(
    client: TestClient, api: Api, admin: Account, alice: Account
) -> None:
    body = {"user": alice.email, "amount": 700, "currency": "USD", "reason": "cash at the counter"}
    headers = {**admin.headers, "Idempotency-Key": "counter-receipt-17"}

    first = client.post("/v1/admin/deposits", json=body, headers=headers)
    again = client.post("/v1/admin/deposits", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json()
    assert api.balance(alice) == 700
    assert api.audit(admin)["ok"] is True


def stored_answer(db: Database, key: str) -> tuple[int, str]:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT status_code, response_body FROM idempotency_keys WHERE key = :key"), {"key": key}
        ).one()
    return int(row[0]), str(row[1])


def answer_of(status_code: int, response_body: str) -> bytes:
    """What a replay of this record has always answered: the stored document, rendered as JSON."""
    return bytes(JSONResponse(json.loads(response_body), status_code=status_code).body)


@pytest.mark.parametrize("amount", [250, 5_000], ids=["moved", "refused"])
def test_a_replay_answers_byte_for_byte_what_its_record_stored(
    client: TestClient, api: Api, db: Database, admin: Account, alice: Account, bob: Account, amount: int
) -> None:
    api.deposit(admin, alice.email, 1_000)
    body = {"amount": amount, "currency": "USD", "to_email": bob.email, "memo": "caf\u00e9 \u20ac"}
    first = post_transfer(client, alice, body, "byte-for-byte")

    again = post_transfer(client, alice, body, "byte-for-byte")

    status_code, response_body = stored_answer(db, "byte-for-byte")
    assert (first.status_code, again.status_code) == (status_code, status_code)
    assert again.content == answer_of(status_code, response_body)
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["Idempotency-Replayed"] == "true"


def test_a_keyed_refusal_names_the_request_it_refused_and_its_replays_name_it_too(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 100)
    body = {"amount": 500, "currency": "USD", "to_email": bob.email, "memo": None}
    headers = {**alice.headers, "Idempotency-Key": "named-refusal"}

    first = client.post("/v1/transfers", json=body, headers={**headers, "X-Request-Id": "trace-first"})
    again = client.post("/v1/transfers", json=body, headers={**headers, "X-Request-Id": "trace-again"})

    assert (first.status_code, first.json()["code"]) == (409, "insufficient_funds")
    assert first.json()["request_id"] == first.headers["x-request-id"] == "trace-first"
    # The replay is the stored document, byte for byte: it names the request that was
    # refused; its own id is in its header.
    assert again.content == first.content
    assert again.headers["x-request-id"] == "trace-again"
    assert again.headers["Idempotency-Replayed"] == "true"


def test_a_refusal_stored_by_an_earlier_version_replays_word_for_word(
    client: TestClient, api: Api, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 100)
    body = {"amount": 500, "currency": "USD", "to_email": bob.email, "memo": None}
    assert post_transfer(client, alice, body, "old-words").status_code == 409
    # Worded as an older daemon worded it, with a field today's refusals no longer carry.
    old_document = {
        "code": "insufficient_funds",
        "detail": "not enough money",
        "status": 409,
        "title": "Insufficient funds",
        "type": "https://gopherpay.dev/problems/insufficient_funds",
        "wallet": "the old one",
    }
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE idempotency_keys SET response_body = :body WHERE key = 'old-words'"),
            {"body": json.dumps(old_document, sort_keys=True)},
        )

    again = post_transfer(client, alice, body, "old-words")

    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.content == answer_of(409, json.dumps(old_document, sort_keys=True))


# --- one key, many simultaneous requests, against the real daemon ----------------------------


SIMULTANEOUS_REQUESTS = 20


def fire_simultaneously(url: str, sender: Account, body: dict[str, Any], key: str) -> list[httpx.Response]:
    """Send one request from many threads at once, each on its own connection."""
    start_together = threading.Barrier(SIMULTANEOUS_REQUESTS, timeout=30)
    responses: list[httpx.Response | BaseException] = [RuntimeError("not sent")] * SIMULTANEOUS_REQUESTS

    def send(slot: int) -> None:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            client.get("/healthz")  # connect before the barrier, so the requests really race
            start_together.wait()
            try:
                responses[slot] = post_transfer(client, sender, body, key)
            except httpx.HTTPError as error:
                responses[slot] = error

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(SIMULTANEOUS_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    failures = [r for r in responses if not isinstance(r, httpx.Response)]
    assert not failures, failures
    return [r for r in responses if isinstance(r, httpx.Response)]


def assert_one_key_moved_money_once(
    daemon: RunningDaemon, operator_of: OperatorOf, database_url: str
) -> None:
    api, operator = operator_of(daemon)
    alice = api.signup("alice@example.com")
    bob = api.signup("bob@example.com")
    api.deposit(operator, alice.email, 10_000)
    body = {"amount": 1_234, "currency": "USD", "to_email": bob.email, "memo": "exactly once"}

    responses = fire_simultaneously(daemon.url, alice, body, f"once-{uuid.uuid4()}")

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * SIMULTANEOUS_REQUESTS, [(r.status_code, r.text) for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = sorted(r.headers.get("Idempotency-Replayed", "false") for r in responses)
    assert replayed == ["false"] + ["true"] * (SIMULTANEOUS_REQUESTS - 1)
    assert (api.balance(alice), api.balance(bob)) == (10_000 - 1_234, 1_234)
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            kinds = connection.execute(text("SELECT kind, COUNT(*) FROM transfers GROUP BY kind")).all()
    finally:
        database.dispose()
    assert sorted(tuple(row) for row in kinds) == [("deposit", 1), ("transfer", 1)]
    assert api.audit(operator)["ok"] is True


def test_simultaneous_requests_with_one_key_move_money_once_on_postgres(
    tmp_path: Path, private_postgres_url: str, operator_of: OperatorOf
) -> None:
    with run_daemon(tmp_path / "daemon", private_postgres_url) as daemon:
        assert_one_key_moved_money_once(daemon, operator_of, private_postgres_url)


def test_simultaneous_requests_with_one_key_move_money_once_on_embedded_sqlite(
    tmp_path: Path, operator_of: OperatorOf
) -> None:
    data_dir = tmp_path / "daemon"
    with run_daemon(data_dir) as daemon:
        assert "GOPHERPAY_DATABASE_URL" not in daemon.env
        assert_one_key_moved_money_once(daemon, operator_of, f"sqlite:///{data_dir / 'gopherpay.db'}")
