"""Addresses that mix scripts (a Cyrillic а in `аlice@example.com`) are refused, so nobody can
sign up as a look-alike of someone else; compatibility forms fold into the letter they show."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gopherpayd.identity import emails
from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD, Account, Api

CYRILLIC_A = "\u0430"
GREEK_OMICRON = "\u03bf"


def signup(client: TestClient, email: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/auth/signup", json={"email": email, "full_name": "Mallory", "password": DEFAULT_PASSWORD}
    )


@pytest.mark.parametrize(
    ("email", "where", "scripts"),
    [
        (f"{CYRILLIC_A}lice@example.com", "the part before @", "Cyrillic, Latin"),
        (f"alice@ex{CYRILLIC_A}mple.com", "the domain", "Cyrillic, Latin"),
        (f"b{GREEK_OMICRON}b@example.com", "the part before @", "Greek, Latin"),
    ],
)
def test_signup_with_an_address_that_mixes_scripts_answers_400_mixed_script_email(
    client: TestClient, email: str, where: str, scripts: str
) -> None:
    body = assert_problem(signup(client, email), 400, "mixed_script_email")
    assert body["detail"] == (
        f"{where} mixes letters of several scripts ({scripts}), so the address could pass for "
        "another one; write each part in one script"
    )


@pytest.mark.parametrize(
    "email", ["δοκιμή@παράδειγμα.δοκιμή", "иван@пример.рф", "田中さん@example.jp", "josé.müller@example.com"]
)
def test_addresses_written_in_one_script_are_welcome(client: TestClient, email: str) -> None:
    response = signup(client, email)
    assert response.status_code == 201, response.text


def test_full_width_letters_fold_into_the_address_they_show(client: TestClient, alice: Account) -> None:
    assert_problem(signup(client, "ａｌｉｃｅ@example.com"), 409, "email_taken")
    logged_in = client.post(
        "/v1/auth/login", json={"email": "ａｌｉｃｅ@example.com", "password": alice.password}
    )
    assert logged_in.status_code == 200, logged_in.text
    assert logged_in.json()["user"]["email"] == "alice@example.com"


def test_a_look_alike_never_logs_in_as_the_real_account(client: TestClient, alice: Account) -> None:
    response = client.post(
        "/v1/auth/login", json={"email": f"{CYRILLIC_A}lice@example.com", "password": alice.password}
    )
    assert_problem(response, 401, "invalid_credentials")


def test_money_cannot_be_sent_to_a_look_alike(
    client: TestClient, api: Api, admin: Account, alice: Account
) -> None:
    api.deposit(admin, alice.email, 1_000)
    Api(client).signup("bob@example.com")

    response = api.transfer(alice, f"b{GREEK_OMICRON}b@example.com", 100)

    assert response.status_code == 404, response.text
    assert api.balance(alice) == 1_000


@pytest.mark.parametrize(
    ("text", "mixed"),
    [
        ("paypal", []),
        (f"p{CYRILLIC_A}ypal", ["CYRILLIC", "LATIN"]),
        ("user-42_x", []),
        ("東京タワーtokyo", []),  # Han, Katakana and Latin: Japanese as written
        ("서울seoul", []),
        (f"서울{CYRILLIC_A}", ["CYRILLIC", "HANGUL"]),
        ("a\u0301b", []),  # a combining mark belongs to no script
    ],
)
def test_mixed_scripts_are_told_apart_from_scripts_that_go_together(text: str, mixed: list[str]) -> None:
    assert emails.mixed_scripts(text) == mixed
