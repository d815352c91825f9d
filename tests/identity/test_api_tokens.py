"""Long-lived API tokens: created once in clear, hashed at rest, scoped, revocable at once."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from tests.identity.problems import assert_problem
from tests.support.api import Account, Api


def create_token(client: TestClient, owner: Account, scope: str, **extra: object) -> dict[str, object]:
    response = client.post(
        "/v1/tokens", json={"name": f"ci-{scope}", "scope": scope, **extra}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_token_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, alice: Account, db: Database
) -> None:
    created = create_token(client, alice, "read", expires_in_days=90)
    token = str(created["token"])

    listed = client.get("/v1/tokens", headers=alice.headers).json()["items"]
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash, prefix, name, scope FROM api_tokens")).all()

    assert token.startswith("gpt_") and len(token) == 47
    assert created["prefix"] == token[:12]
    assert [sorted(item) for item in listed] == [
        ["created_at", "expires_at", "id", "last_used_at", "name", "prefix", "revoked_at", "scope"]
    ]
    assert token not in str(listed)
    assert [tuple(row) for row in stored] == [
        (hashlib.sha256(token.encode()).hexdigest(), token[:12], "ci-read", "read")
    ]
    assert created["expires_at"] is not None


def test_a_read_token_reads_but_can_never_move_money(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    token = create_token(client, alice, "read")["token"]

    me = client.get("/v1/me", headers=bearer(token))
    sent = client.post(
        "/v1/transfers",
        json={"amount": 100, "currency": "USD", "to_email": bob.email},
        headers={**bearer(token), "Idempotency-Key": "read-token-1"},
    )
    opened = client.post("/v1/wallets", json={"currency": "EUR"}, headers=bearer(token))

    assert me.status_code == 200 and me.json()["email"] == alice.email
    assert_problem(sent, 403, "insufficient_scope")
    assert_problem(opened, 403, "insufficient_scope")
    assert api.balance(alice) == 10_000


def test_a_transfer_token_moves_money(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    token = create_token(client, alice, "transfer")["token"]

    sent = client.post(
        "/v1/transfers",
        json={"amount": 250, "currency": "USD", "to_email": bob.email},
        headers={**bearer(token), "Idempotency-Key": "transfer-token-1"},
    )

    assert sent.status_code == 201, sent.text
    assert api.balance(alice) == 9_750


def test_a_revoked_token_stops_working_at_once(client: TestClient, alice: Account) -> None:
    created = create_token(client, alice, "read")
    assert client.get("/v1/me", headers=bearer(created["token"])).status_code == 200

    revoked = client.delete(f"/v1/tokens/{created['id']}", headers=alice.headers)
    after = client.get("/v1/me", headers=bearer(created["token"]))

    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert_problem(after, 401, "api_token_revoked")


def test_an_expired_token_is_refused(client: TestClient, alice: Account, db: Database) -> None:
    created = create_token(client, alice, "read", expires_in_days=1)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE api_tokens SET expires_at = :past"), {"past": utcnow() - timedelta(seconds=1)}
        )

    assert_problem(client.get("/v1/me", headers=bearer(created["token"])), 401, "api_token_expired")


def test_an_unknown_token_is_refused_without_a_hint_of_any_other(client: TestClient, alice: Account) -> None:
    create_token(client, alice, "read")

    assert_problem(client.get("/v1/me", headers=bearer("gpt_" + "x" * 43)), 401, "api_token_invalid")


def test_a_token_cannot_manage_tokens(client: TestClient, alice: Account) -> None:
    token = create_token(client, alice, "transfer")["token"]

    minted = client.post("/v1/tokens", json={"name": "more", "scope": "transfer"}, headers=bearer(token))
    listed = client.get("/v1/tokens", headers=bearer(token))

    assert_problem(minted, 403, "login_required")
    assert_problem(listed, 403, "login_required")


def test_a_frozen_owner_is_refused_with_a_token(client: TestClient, admin: Account, alice: Account) -> None:
    token = create_token(client, alice, "read")["token"]
    frozen = client.post(
        f"/v1/admin/users/{alice.email}/freeze", json={"reason": "test"}, headers=admin.headers
    )
    assert frozen.status_code == 200, frozen.text

    assert_problem(client.get("/v1/me", headers=bearer(token)), 403, "account_frozen")


def test_users_see_and_revoke_only_their_own_tokens(client: TestClient, alice: Account, bob: Account) -> None:
    alices = create_token(client, alice, "read")

    bobs_list = client.get("/v1/tokens", headers=bob.headers).json()["items"]
    bob_revokes = client.delete(f"/v1/tokens/{alices['id']}", headers=bob.headers)

    assert bobs_list == []
    assert_problem(bob_revokes, 404, "api_token_not_found")
    assert client.get("/v1/me", headers=bearer(alices["token"])).status_code == 200


def test_bad_token_requests_are_clear_errors(client: TestClient, alice: Account) -> None:
    bad_scope = client.post("/v1/tokens", json={"name": "ci", "scope": "admin"}, headers=alice.headers)
    too_long = client.post(
        "/v1/tokens", json={"name": "ci", "scope": "read", "expires_in_days": 10_000}, headers=alice.headers
    )
    blank = client.post("/v1/tokens", json={"name": "", "scope": "read"}, headers=alice.headers)

    for response in (bad_scope, too_long, blank):
        assert response.status_code == 422, response.text
