"""Sign-up, login, token rotation, logout, password change, sessions and frozen accounts."""

from __future__ import annotations

import statistics
import time
import uuid

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_JWT_SECRET
from tests.identity.conftest import ClientFactory
from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD, Account, Api

USER_FIELDS = {"id", "email", "full_name", "role", "frozen", "email_verified", "created_at"}
SESSION_FIELDS = {
    "id",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
    "user_agent",
    "client_ip",
    "current",
}
NEW_PASSWORD = "a-brand-new-passphrase"


def signup(client: TestClient, email: str, password: str = DEFAULT_PASSWORD, name: str = "Carol Jones"):
    return client.post("/v1/auth/signup", json={"email": email, "full_name": name, "password": password})


def login(client: TestClient, email: str, password: str = DEFAULT_PASSWORD):
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def refresh(client: TestClient, refresh_token: str):
    return client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})


def me(client: TestClient, access_token: str):
    return client.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- sign-up ---------------------------------------------------------------


def test_signup_answers_201_with_the_user_and_a_lower_cased_email(client: TestClient) -> None:
    response = signup(client, "Carol.Jones@Example.COM")
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["email"], body["full_name"], body["role"], body["frozen"]) == (
        "carol.jones@example.com",
        "Carol Jones",
        "user",
        False,
    )
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z")


def test_signed_up_user_logs_in_with_any_case_of_the_email(client: TestClient) -> None:
    assert signup(client, "Carol.Jones@Example.COM").status_code == 201
    response = login(client, "CAROL.JONES@example.com")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "carol.jones@example.com"


@pytest.mark.parametrize("again", ["alice@example.com", "ALICE@Example.com"])
def test_signup_with_a_taken_email_answers_409_email_taken(
    client: TestClient, alice: Account, again: str
) -> None:
    assert_problem(signup(client, again), 409, "email_taken")


def test_signup_with_a_seven_character_password_answers_400_password_too_short(client: TestClient) -> None:
    assert_problem(signup(client, "carol@example.com", "seven77"), 400, "password_too_short")
    assert_problem(login(client, "carol@example.com", "seven77"), 401, "invalid_credentials")


@pytest.mark.parametrize(
    "password", ["é" * 37, "a" * 73, "a" * 71 + "é"], ids=["74-bytes-of-e-acute", "73-ascii", "73-mixed"]
)
def test_signup_with_a_password_over_72_bytes_answers_400_password_too_long(
    client: TestClient, password: str
) -> None:
    assert len(password.encode()) > 72
    assert_problem(signup(client, "carol@example.com", password), 400, "password_too_long")
    assert_problem(login(client, "carol@example.com", password), 401, "invalid_credentials")


@pytest.mark.parametrize("password", ["é" * 36, "a" * 72], ids=["72-bytes-of-e-acute", "72-ascii"])
def test_signup_with_a_password_of_exactly_72_bytes_is_accepted(client: TestClient, password: str) -> None:
    assert len(password.encode()) == 72
    assert signup(client, "carol@example.com", password).status_code == 201
    assert login(client, "carol@example.com", password).status_code == 200
    assert_problem(login(client, "carol@example.com", password[:-1]), 401, "invalid_credentials")


def test_login_with_a_password_over_72_bytes_answers_401_not_500(client: TestClient, alice: Account) -> None:
    assert_problem(login(client, alice.email, DEFAULT_PASSWORD + "x" * 60), 401, "invalid_credentials")


# --- login -----------------------------------------------------------------


def test_login_returns_a_bearer_token_pair_for_a_new_session(client: TestClient, alice: Account) -> None:
    response = login(client, alice.email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "session_id", "user"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    assert body["user"]["id"] == alice.user_id and set(body["user"]) == USER_FIELDS
    assert body["session_id"] != alice.session_id
    claims = jwt.decode(
        body["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="gopherpay", issuer="gopherpayd"
    )
    assert (claims["sub"], claims["sid"], claims["role"]) == (alice.user_id, body["session_id"], "user")
    assert claims["exp"] - claims["iat"] == 900


def test_wrong_password_and_unknown_email_get_the_same_401_body(client: TestClient, alice: Account) -> None:
    wrong_password = login(client, alice.email, "not-the-password")
    unknown_email = login(client, "nobody@example.com", "not-the-password")
    body = assert_problem(wrong_password, 401, "invalid_credentials")
    assert assert_problem(unknown_email, 401, "invalid_credentials") == body
    assert unknown_email.headers.get("www-authenticate") == wrong_password.headers.get("www-authenticate")


def test_unknown_email_login_takes_as_long_as_a_wrong_password(client_with: ClientFactory) -> None:
    slow = client_with(
        bcrypt_rounds=9,
        login_failures_before_backoff=1_000,
        login_max_failures_per_account=1_000,
        login_max_failures_per_address=1_000,
    )
    assert signup(slow, "carol@example.com").status_code == 201

    def timed_failure(email: str) -> float:
        started = time.perf_counter()
        response = login(slow, email, "not-the-password")
        elapsed = time.perf_counter() - started
        assert_problem(response, 401, "invalid_credentials")
        return elapsed

    timed_failure("carol@example.com"), timed_failure("nobody@example.com")  # warm both paths up
    known, unknown = [], []
    for _ in range(5):
        known.append(timed_failure("carol@example.com"))
        unknown.append(timed_failure("nobody@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2.0, f"unknown/known = {ratio:.2f} (known {known}, unknown {unknown})"


# --- refresh ---------------------------------------------------------------


def test_refresh_returns_a_new_pair_for_the_same_session_that_works(
    client: TestClient, alice: Account
) -> None:
    response = refresh(client, alice.refresh_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == alice.session_id
    assert body["refresh_token"] != alice.refresh_token
    assert body["access_token"] != alice.access_token
    assert me(client, body["access_token"]).json()["id"] == alice.user_id
    assert refresh(client, body["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_answers_401_refresh_token_reused(
    client: TestClient, alice: Account
) -> None:
    assert refresh(client, alice.refresh_token).status_code == 200
    assert_problem(refresh(client, alice.refresh_token), 401, "refresh_token_reused")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: TestClient, alice: Account) -> None:
    second = refresh(client, alice.refresh_token).json()
    newest = refresh(client, second["refresh_token"]).json()
    assert me(client, newest["access_token"]).status_code == 200

    assert_problem(refresh(client, second["refresh_token"]), 401, "refresh_token_reused")

    assert_problem(refresh(client, newest["refresh_token"]), 401, "session_revoked")
    assert_problem(me(client, newest["access_token"]), 401, "session_revoked")
    assert_problem(me(client, alice.access_token), 401, "session_revoked")


def test_refresh_token_reuse_leaves_the_users_other_sessions_working(
    client: TestClient, api: Api, alice: Account
) -> None:
    other = api.login(alice.email)
    refresh(client, alice.refresh_token)
    assert_problem(refresh(client, alice.refresh_token), 401, "refresh_token_reused")
    assert me(client, other.access_token).status_code == 200
    assert refresh(client, other.refresh_token).status_code == 200


def test_an_unknown_refresh_token_answers_401_invalid_refresh_token(
    client: TestClient, alice: Account
) -> None:
    assert_problem(refresh(client, "not-a-token-we-issued"), 401, "invalid_refresh_token")
    assert me(client, alice.access_token).status_code == 200


# --- logout and /me --------------------------------------------------------


def test_me_returns_the_caller(client: TestClient, alice: Account) -> None:
    response = me(client, alice.access_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS
    assert (body["id"], body["email"], body["full_name"], body["role"], body["frozen"]) == (
        alice.user_id,
        "alice@example.com",
        "Alice Liddell",
        "user",
        False,
    )


def test_me_without_a_token_answers_401_authentication_required(client: TestClient) -> None:
    response = client.get("/v1/me")
    assert_problem(response, 401, "authentication_required")
    assert response.headers["www-authenticate"] == "Bearer"


def test_logout_answers_204_and_revokes_the_session(client: TestClient, alice: Account) -> None:
    response = client.post("/v1/auth/logout", headers=alice.headers)
    assert (response.status_code, response.content) == (204, b"")
    assert_problem(me(client, alice.access_token), 401, "session_revoked")
    assert_problem(refresh(client, alice.refresh_token), 401, "session_revoked")


def test_logout_leaves_the_users_other_sessions_working(client: TestClient, api: Api, alice: Account) -> None:
    other = api.login(alice.email)
    assert client.post("/v1/auth/logout", headers=alice.headers).status_code == 204
    assert me(client, other.access_token).status_code == 200


# --- password change -------------------------------------------------------


def test_password_change_with_a_wrong_current_password_answers_401_and_changes_nothing(
    client: TestClient, alice: Account
) -> None:
    response = client.post(
        "/v1/me/password",
        json={"current_password": "not-the-password", "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )
    assert_problem(response, 401, "invalid_credentials")
    assert me(client, alice.access_token).status_code == 200
    assert login(client, alice.email).status_code == 200
    assert_problem(login(client, alice.email, NEW_PASSWORD), 401, "invalid_credentials")


def test_password_change_revokes_other_sessions_and_keeps_the_current_one(
    client: TestClient, api: Api, alice: Account
) -> None:
    current = api.login(alice.email)
    response = client.post(
        "/v1/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=current.headers,
    )
    assert (response.status_code, response.content) == (204, b"")
    assert_problem(me(client, alice.access_token), 401, "session_revoked")
    assert_problem(refresh(client, alice.refresh_token), 401, "session_revoked")
    assert me(client, current.access_token).status_code == 200
    assert refresh(client, current.refresh_token).status_code == 200


def test_after_a_password_change_only_the_new_password_logs_in(client: TestClient, alice: Account) -> None:
    client.post(
        "/v1/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )
    assert_problem(login(client, alice.email), 401, "invalid_credentials")
    assert login(client, alice.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("new_password", "status", "code"),
    [("short", 400, "password_too_short"), ("é" * 37, 400, "password_too_long")],
    ids=["too-short", "too-long"],
)
def test_password_change_to_an_invalid_password_is_refused_and_keeps_the_old_one(
    client: TestClient, alice: Account, new_password: str, status: int, code: str
) -> None:
    response = client.post(
        "/v1/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": new_password},
        headers=alice.headers,
    )
    assert_problem(response, status, code)
    assert login(client, alice.email).status_code == 200


# --- sessions --------------------------------------------------------------


def test_sessions_list_shows_every_session_and_flags_only_the_current_one(
    client: TestClient, api: Api, alice: Account, bob: Account
) -> None:
    second = api.login(alice.email)
    response = client.get("/v1/sessions", headers=second.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert all(set(item) == SESSION_FIELDS for item in items)
    assert {item["id"] for item in items} == {alice.session_id, second.session_id}
    assert [item["id"] for item in items if item["current"]] == [second.session_id]
    assert all(item["revoked_at"] is None for item in items)


def test_revoking_one_of_my_other_sessions_makes_its_tokens_fail(
    client: TestClient, api: Api, alice: Account
) -> None:
    second = api.login(alice.email)
    response = client.delete(f"/v1/sessions/{alice.session_id}", headers=second.headers)
    assert (response.status_code, response.content) == (204, b"")
    assert_problem(me(client, alice.access_token), 401, "session_revoked")
    assert_problem(refresh(client, alice.refresh_token), 401, "session_revoked")
    assert me(client, second.access_token).status_code == 200
    listed = {item["id"]: item for item in client.get("/v1/sessions", headers=second.headers).json()["items"]}
    assert listed[alice.session_id]["revoked_at"] is not None
    assert listed[second.session_id]["revoked_at"] is None


def test_revoking_another_users_session_answers_404_session_not_found(
    client: TestClient, alice: Account, bob: Account
) -> None:
    response = client.delete(f"/v1/sessions/{alice.session_id}", headers=bob.headers)
    assert_problem(response, 404, "session_not_found")
    assert me(client, alice.access_token).status_code == 200


def test_revoking_a_session_that_does_not_exist_answers_404_session_not_found(
    client: TestClient, alice: Account
) -> None:
    assert_problem(
        client.delete(f"/v1/sessions/{uuid.uuid4()}", headers=alice.headers), 404, "session_not_found"
    )


# --- frozen accounts -------------------------------------------------------


def freeze(client: TestClient, admin: Account, email: str) -> None:
    response = client.post(
        f"/v1/admin/users/{email}/freeze", json={"reason": "fraud check"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["frozen"] is True


def test_a_frozen_user_cannot_log_in(client: TestClient, admin: Account, bob: Account) -> None:
    freeze(client, admin, bob.email)
    assert_problem(login(client, bob.email), 403, "account_frozen")


def test_freezing_a_user_makes_their_existing_tokens_answer_403_account_frozen(
    client: TestClient, admin: Account, bob: Account
) -> None:
    freeze(client, admin, bob.email)
    body = assert_problem(me(client, bob.access_token), 403, "account_frozen")
    assert body["detail"] == "account bob@example.com is frozen; contact support"
    assert_problem(client.get("/v1/wallets", headers=bob.headers), 403, "account_frozen")
    assert_problem(refresh(client, bob.refresh_token), 403, "account_frozen")


def test_after_unfreezing_the_sessions_ended_by_the_freeze_stay_revoked(
    client: TestClient, admin: Account, bob: Account
) -> None:
    freeze(client, admin, bob.email)
    unfrozen = client.post(
        f"/v1/admin/users/{bob.email}/unfreeze", json={"reason": "cleared"}, headers=admin.headers
    )
    assert unfrozen.status_code == 200, unfrozen.text
    assert_problem(me(client, bob.access_token), 401, "session_revoked")
    assert_problem(refresh(client, bob.refresh_token), 401, "session_revoked")


def test_an_unfrozen_user_can_log_in_again(client: TestClient, admin: Account, bob: Account) -> None:
    freeze(client, admin, bob.email)
    response = client.post(
        f"/v1/admin/users/{bob.email}/unfreeze", json={"reason": "cleared"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert login(client, bob.email).status_code == 200
