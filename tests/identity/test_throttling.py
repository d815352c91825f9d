"""Failed logins are throttled per account and address (backoff), per address and per account
(429 with Retry-After), without letting an attacker lock the owner out; sign-ups per address."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from gopherpayd.identity import throttling
from gopherpayd.kit.clock import utcnow
from tests.identity.conftest import ClientFactory
from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD

WRONG = "not-the-password"


def signup(client: TestClient, email: str) -> None:
    response = client.post(
        "/v1/auth/signup", json={"email": email, "full_name": "Someone", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201, response.text


def login(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def fail_logins(client: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        assert_problem(login(client, email, WRONG), 401, "invalid_credentials")


def retry_after(response: httpx.Response) -> int:
    header = response.headers["retry-after"]
    assert header.isdigit(), header
    return int(header)


def test_after_max_failures_even_the_right_password_answers_429_with_retry_after(
    client_with: ClientFactory,
) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 3)
    response = login(client, "carol@example.com")
    assert_problem(response, 429, "too_many_attempts")
    assert 0 < retry_after(response) <= 900
    assert "access_token" not in response.text


def test_a_throttled_account_answers_429_to_a_wrong_password_too(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 3)
    response = login(client, "carol@example.com", WRONG)
    assert_problem(response, 429, "too_many_attempts")
    assert retry_after(response) > 0


def test_failures_below_the_limit_still_let_the_right_password_in(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 2)
    assert login(client, "carol@example.com").status_code == 200


def test_a_successful_login_resets_the_account_failure_count(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 2)
    assert login(client, "carol@example.com").status_code == 200
    fail_logins(client, "carol@example.com", 2)
    assert login(client, "carol@example.com").status_code == 200


def test_throttling_one_account_leaves_other_accounts_unaffected(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    signup(client, "dave@example.com")
    fail_logins(client, "carol@example.com", 3)
    assert_problem(login(client, "carol@example.com"), 429, "too_many_attempts")
    assert login(client, "dave@example.com").status_code == 200
    assert_problem(login(client, "dave@example.com", WRONG), 401, "invalid_credentials")


def test_an_unknown_email_is_throttled_exactly_like_a_real_account(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 3)
    fail_logins(client, "nobody@example.com", 3)
    real = login(client, "carol@example.com", WRONG)
    unknown = login(client, "nobody@example.com", WRONG)
    assert assert_problem(unknown, 429, "too_many_attempts") == assert_problem(real, 429, "too_many_attempts")


def test_the_account_limit_counts_the_email_in_any_case(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3)
    signup(client, "carol@example.com")
    for email in ("carol@example.com", "CAROL@example.com", "Carol@Example.COM"):
        fail_logins(client, email, 1)
    assert_problem(login(client, "carol@example.com"), 429, "too_many_attempts")


def test_the_per_address_limit_spans_different_emails(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_address=3)
    signup(client, "carol@example.com")
    for email in ("one@example.com", "two@example.com", "three@example.com"):
        fail_logins(client, email, 1)
    response = login(client, "carol@example.com")
    assert_problem(response, 429, "too_many_attempts")
    assert retry_after(response) > 0
    assert_problem(login(client, "four@example.com", WRONG), 429, "too_many_attempts")


def test_retry_after_never_exceeds_the_failure_window(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3, login_failure_window=60)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 3)
    assert 1 <= retry_after(login(client, "carol@example.com")) <= 60


def test_the_throttle_lifts_once_the_failure_window_has_passed(client_with: ClientFactory) -> None:
    client = client_with(login_max_failures_per_account=3, login_failure_window=1)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 3)
    throttled = login(client, "carol@example.com")
    assert_problem(throttled, 429, "too_many_attempts")
    assert retry_after(throttled) == 1
    time.sleep(1.2)
    assert login(client, "carol@example.com").status_code == 200


# --- backoff per account and address; the owner is not locked out ----------------------

ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"


class Clock:
    """The throttle's clock, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock()
    monkeypatch.setattr(throttling, "utcnow", fixed)
    return fixed


def test_after_the_free_failures_each_try_waits_twice_as_long_as_the_last(
    client_with: ClientFactory, clock: Clock
) -> None:
    client = client_with(login_failures_before_backoff=2, login_backoff_initial=10)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 2)

    waits = []
    for _ in range(4):
        throttled = login(client, "carol@example.com", WRONG)
        assert_problem(throttled, 429, "too_many_attempts")
        waits.append(retry_after(throttled))
        clock.advance(waits[-1])
        fail_logins(client, "carol@example.com", 1)

    assert waits == [10, 20, 40, 80]


def test_the_backoff_never_asks_for_longer_than_the_failure_window(
    client_with: ClientFactory, clock: Clock
) -> None:
    client = client_with(login_failures_before_backoff=1, login_backoff_initial=100, login_failure_window=300)
    signup(client, "carol@example.com")
    fail_logins(client, "carol@example.com", 1)
    clock.advance(100)
    fail_logins(client, "carol@example.com", 1)
    clock.advance(200)
    fail_logins(client, "carol@example.com", 1)

    assert retry_after(login(client, "carol@example.com", WRONG)) == 300


def test_an_attackers_failures_do_not_lock_the_owner_out_from_their_own_address(
    client_with: ClientFactory,
) -> None:
    attacker = client_with(address=ATTACKER, login_failures_before_backoff=3, login_backoff_initial=600)
    owner = client_with(address=OWNER, login_failures_before_backoff=3, login_backoff_initial=600)
    signup(owner, "carol@example.com")
    fail_logins(attacker, "carol@example.com", 3)
    assert_problem(login(attacker, "carol@example.com"), 429, "too_many_attempts")

    mistyped = login(owner, "carol@example.com", WRONG)
    logged_in = login(owner, "carol@example.com")

    assert_problem(mistyped, 401, "invalid_credentials")
    assert logged_in.status_code == 200, logged_in.text
    assert_problem(login(attacker, "carol@example.com"), 429, "too_many_attempts")


def test_the_account_wide_limit_stops_guessing_from_many_addresses(client_with: ClientFactory) -> None:
    settings = {"login_failures_before_backoff": 100, "login_max_failures_per_account": 4}
    clients = [client_with(address=f"203.0.113.{n}", **settings) for n in range(1, 6)]
    signup(clients[0], "carol@example.com")
    for client in clients[:4]:
        fail_logins(client, "carol@example.com", 1)

    throttled = login(clients[4], "carol@example.com")

    assert_problem(throttled, 429, "too_many_attempts")
    assert 0 < retry_after(throttled) <= 900


def test_the_owners_login_forgets_only_the_failures_from_the_owners_address(
    client_with: ClientFactory,
) -> None:
    settings = {"login_failures_before_backoff": 100, "login_max_failures_per_account": 4}
    attacker = client_with(address=ATTACKER, **settings)
    owner = client_with(address=OWNER, **settings)
    signup(owner, "carol@example.com")
    fail_logins(attacker, "carol@example.com", 2)
    fail_logins(owner, "carol@example.com", 1)
    assert login(owner, "carol@example.com").status_code == 200

    fail_logins(attacker, "carol@example.com", 2)

    assert_problem(login(attacker, "carol@example.com", WRONG), 429, "too_many_attempts")
    # The owner has logged in from their address: the account-wide ceiling spares it.
    assert login(owner, "carol@example.com").status_code == 200


# --- sign-ups per client address ----------------------------------------------------------


def try_signup(client: TestClient, email: str) -> httpx.Response:
    return client.post(
        "/v1/auth/signup", json={"email": email, "full_name": "Someone", "password": DEFAULT_PASSWORD}
    )


def test_signups_from_one_address_are_limited_taken_addresses_included(client_with: ClientFactory) -> None:
    prober = client_with(address=ATTACKER, signup_max_per_address=3)
    elsewhere = client_with(address=OWNER, signup_max_per_address=3)
    assert try_signup(prober, "one@example.com").status_code == 201
    assert_problem(try_signup(prober, "one@example.com"), 409, "email_taken")
    assert try_signup(prober, "two@example.com").status_code == 201

    throttled = try_signup(prober, "three@example.com")
    probe = try_signup(prober, "one@example.com")

    assert_problem(throttled, 429, "too_many_attempts")
    assert 0 < retry_after(throttled) <= 3600
    assert_problem(probe, 429, "too_many_attempts")
    assert try_signup(elsewhere, "three@example.com").status_code == 201


def test_a_refused_signup_does_not_count(client_with: ClientFactory) -> None:
    prober = client_with(address=ATTACKER, signup_max_per_address=1)
    short = prober.post(
        "/v1/auth/signup", json={"email": "one@example.com", "full_name": "Someone", "password": "short"}
    )
    assert_problem(short, 400, "password_too_short")
    assert try_signup(prober, "one@example.com").status_code == 201


# --- the account-wide ceiling spares addresses the owner logged in from; IPv6 per /64 -------


def test_the_account_wide_ceiling_does_not_refuse_an_address_the_owner_logged_in_from(
    client_with: ClientFactory,
) -> None:
    settings = {"login_failures_before_backoff": 100, "login_max_failures_per_account": 4}
    owner = client_with(address=OWNER, **settings)
    signup(owner, "carol@example.com")
    assert login(owner, "carol@example.com").status_code == 200
    for n in range(1, 5):
        fail_logins(client_with(address=f"203.0.113.{n}", **settings), "carol@example.com", 1)
    stranger = client_with(address="192.0.2.99", **settings)

    assert_problem(login(stranger, "carol@example.com"), 429, "too_many_attempts")
    logged_in = login(owner, "carol@example.com")

    assert logged_in.status_code == 200, logged_in.text


def test_a_known_address_is_spared_only_for_the_account_that_logged_in_from_it(
    client_with: ClientFactory,
) -> None:
    settings = {"login_failures_before_backoff": 100, "login_max_failures_per_account": 4}
    owner = client_with(address=OWNER, **settings)
    signup(owner, "carol@example.com")
    signup(owner, "dave@example.com")
    assert login(owner, "carol@example.com").status_code == 200
    for n in range(1, 5):
        fail_logins(client_with(address=f"203.0.113.{n}", **settings), "dave@example.com", 1)

    assert_problem(login(owner, "dave@example.com"), 429, "too_many_attempts")


def test_ipv6_clients_in_one_slash_64_count_as_one_address(client_with: ClientFactory) -> None:
    settings = {"login_failures_before_backoff": 3, "login_backoff_initial": 600}
    signup(client_with(address=OWNER, **settings), "carol@example.com")
    for n in range(1, 4):
        fail_logins(client_with(address=f"2001:db8::{n:x}", **settings), "carol@example.com", 1)

    throttled = login(client_with(address="2001:db8::ffff:1", **settings), "carol@example.com", WRONG)
    elsewhere = login(client_with(address="2001:db8:0:1::1", **settings), "carol@example.com", WRONG)

    assert_problem(throttled, 429, "too_many_attempts")
    assert_problem(elsewhere, 401, "invalid_credentials")


def test_the_per_address_ceiling_counts_a_slash_64_as_one_address(client_with: ClientFactory) -> None:
    settings = {"login_max_failures_per_address": 3}
    for n in range(1, 4):
        client = client_with(address=f"2001:db8::{n:x}", **settings)
        fail_logins(client, f"user{n}@example.com", 1)

    response = login(client_with(address="2001:db8::abcd", **settings), "other@example.com", WRONG)

    assert_problem(response, 429, "too_many_attempts")


# --- a password change checks the current password through the same throttle ----------------


def change_password(client: TestClient, token: str, current: str) -> httpx.Response:
    return client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": "a-new-password-1"},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_wrong_current_passwords_are_throttled_like_failed_logins(client_with: ClientFactory) -> None:
    client = client_with(login_failures_before_backoff=3, login_backoff_initial=600)
    signup(client, "carol@example.com")
    token = login(client, "carol@example.com").json()["access_token"]
    for _ in range(3):
        assert_problem(change_password(client, token, WRONG), 401, "invalid_credentials")

    throttled = change_password(client, token, WRONG)
    right = change_password(client, token, DEFAULT_PASSWORD)

    assert_problem(throttled, 429, "too_many_attempts")
    assert 0 < retry_after(throttled) <= 900
    assert_problem(right, 429, "too_many_attempts")
    assert login(client, "carol@example.com").status_code == 429


def test_a_right_current_password_changes_it_and_clears_the_failures(client_with: ClientFactory) -> None:
    client = client_with(login_failures_before_backoff=3, login_backoff_initial=600)
    signup(client, "carol@example.com")
    token = login(client, "carol@example.com").json()["access_token"]
    for _ in range(2):
        assert_problem(change_password(client, token, WRONG), 401, "invalid_credentials")

    assert change_password(client, token, DEFAULT_PASSWORD).status_code == 204

    for _ in range(2):
        assert_problem(change_password(client, token, WRONG), 401, "invalid_credentials")
    assert login(client, "carol@example.com", "a-new-password-1").status_code == 200
