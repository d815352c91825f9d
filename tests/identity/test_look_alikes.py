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
        ("東京タワー", []),  # Han and Katakana: Japanese as written
        ("서울特別市", []),  # Hangul and Han: Korean as written
        # Latin with an East Asian script in one label: ideographs and jamo (丨, ㅣ) pass for l.
        ("東京タワーtokyo", ["HAN", "KATAKANA", "LATIN"]),
        ("서울seoul", ["HANGUL", "LATIN"]),
        ("b\u3007b", ["HAN", "LATIN"]),  # 〇 is a number (Nl) but still Han
        (f"서울{CYRILLIC_A}", ["CYRILLIC", "HANGUL"]),
        ("a\u0301b", []),  # a combining mark belongs to no script
    ],
)
def test_mixed_scripts_are_told_apart_from_scripts_that_go_together(text: str, mixed: list[str]) -> None:
    assert emails.mixed_scripts(text) == mixed


# --- the address is checked again after NFKC: it may grow, or gain spaces ----------------

LIGATURE = "\ufdfa"  # ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM: 1 character, 18 after NFKC
GROWS_PAST_254 = LIGATURE * 14 + "@example.com"  # 26 characters as sent, 264 after NFKC
GAINS_SPACES = LIGATURE + "@example.com"


@pytest.mark.parametrize("email", [GROWS_PAST_254, GAINS_SPACES], ids=["grows-past-254", "gains-spaces"])
def test_signup_with_an_address_that_nfkc_breaks_answers_400_invalid_email(
    client: TestClient, email: str
) -> None:
    body = assert_problem(signup(client, email), 400, "invalid_email")
    assert body["detail"].startswith("this address is not valid once normalised (NFKC): "), body


@pytest.mark.parametrize("email", [GROWS_PAST_254, GAINS_SPACES], ids=["grows-past-254", "gains-spaces"])
def test_login_with_an_address_that_nfkc_breaks_answers_like_an_unknown_account(
    client: TestClient, email: str
) -> None:
    broken = client.post("/v1/auth/login", json={"email": email, "password": DEFAULT_PASSWORD})
    unknown = client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": DEFAULT_PASSWORD}
    )
    assert assert_problem(broken, 401, "invalid_credentials") == assert_problem(
        unknown, 401, "invalid_credentials"
    )


def test_an_admin_lookup_of_an_address_that_nfkc_breaks_answers_404(
    client: TestClient, admin: Account
) -> None:
    response = client.post(
        f"/v1/admin/users/{GROWS_PAST_254}/freeze", json={"reason": "look-up"}, headers=admin.headers
    )
    assert_problem(response, 404, "user_not_found")


# --- look-alikes that are not a mix of Latin with another alphabet ----------------------


@pytest.mark.parametrize(
    ("email", "where", "scripts"),
    [
        ("a\u4e28ice@example.com", "the part before @", "Han, Latin"),  # 丨 CJK ideograph, like l
        ("b\u3007b@example.com", "the part before @", "Han, Latin"),  # 〇 ideographic zero (Nl), like o
        ("bob@examp\u4e28e.com", "the domain", "Han, Latin"),
    ],
)
def test_han_look_alikes_inside_a_latin_word_are_refused(
    client: TestClient, email: str, where: str, scripts: str
) -> None:
    body = assert_problem(signup(client, email), 400, "mixed_script_email")
    assert body["detail"].startswith(f"{where} mixes letters of several scripts ({scripts})"), body


@pytest.mark.parametrize(
    ("existing", "look_alike"),
    [
        ("ace@example.com", "\u0430\u0441\u0435@example.com"),  # асе: all Cyrillic
        ("copy@example.com", "\u0441\u043e\u0440\u0443@example.com"),  # сору: all Cyrillic
        ("oxo@example.com", "\u03bf\u03c7\u03bf@example.com"),  # οχο: all Greek
        ("bob@example.com", "b0b@example.com"),  # a digit zero for an o
        ("lily@example.com", "1i1y@example.com"),  # digit ones for l
    ],
)
def test_an_address_that_looks_like_an_existing_account_is_refused_409_look_alike_email(
    client: TestClient, existing: str, look_alike: str
) -> None:
    assert signup(client, existing).status_code == 201
    body = assert_problem(signup(client, look_alike), 409, "look_alike_email")
    assert body["detail"] == (
        "this address looks like the address of an existing account, so it could pass for it; "
        "choose another one"
    )
    assert_problem(signup(client, look_alike), 409, "look_alike_email")


def test_an_address_in_another_script_that_resembles_no_account_is_welcome(client: TestClient) -> None:
    assert signup(client, "ace@example.com").status_code == 201
    assert signup(client, "\u0430\u0441\u0442@example.com").status_code == 201  # аст: no such Latin word


@pytest.mark.parametrize(
    ("email", "skeleton"),
    [
        ("\u0430\u0441\u0435@example.com", "ace@example.com"),
        ("b\u3007b@example.com", "bob@example.com"),
        ("a\u4e28ice@examp1e.com", "alice@example.com"),
        ("B0B@EXAMPLE.COM", "bob@example.com"),
    ],
)
def test_the_skeleton_maps_look_alikes_onto_the_letters_they_pass_for(email: str, skeleton: str) -> None:
    assert emails.email_skeleton(email) == skeleton
