"""Failed logins are throttled per account and per client address: 429 with Retry-After."""

from __future__ import annotations

import time

import httpx
from fastapi.testclient import TestClient

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
    assert_problem(unknown, 429, "too_many_attempts")
    assert unknown.json() == assert_problem(real, 429, "too_many_attempts")


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
