"""Wallets: one per user and currency, listed with balances, closed only when empty."""

from fastapi.testclient import TestClient

from tests.support.api import Account, Api


def open_wallet(client: TestClient, account: Account, currency: str) -> dict:
    response = client.post("/v1/wallets", json={"currency": currency}, headers=account.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_currencies_list_real_minor_units(client: TestClient) -> None:
    items = {c["code"]: c["exponent"] for c in client.get("/v1/currencies").json()["items"]}
    assert {code: items[code] for code in ["USD", "EUR", "GBP", "JPY", "VND", "KWD"]} == {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
        "VND": 0,
        "KWD": 3,
    }


def test_opening_a_wallet_starts_it_empty(client: TestClient, alice: Account) -> None:
    wallet = open_wallet(client, alice, "EUR")
    assert (wallet["currency"], wallet["balance"], wallet["frozen"], wallet["closed_at"]) == (
        "EUR",
        0,
        False,
        None,
    )


def test_currency_codes_are_case_insensitive(client: TestClient, alice: Account) -> None:
    assert open_wallet(client, alice, "jpy")["currency"] == "JPY"


def test_second_wallet_in_one_currency_is_refused(client: TestClient, alice: Account) -> None:
    open_wallet(client, alice, "USD")
    response = client.post("/v1/wallets", json={"currency": "USD"}, headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (409, "wallet_exists")


def test_unsupported_currency_is_refused_with_the_supported_list(client: TestClient, alice: Account) -> None:
    response = client.post("/v1/wallets", json={"currency": "XYZ"}, headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_currency")
    assert "USD" in response.json()["detail"]


def test_wallet_list_shows_only_own_open_wallets_with_balances(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 2_500, "USD")
    open_wallet(client, alice, "VND")
    open_wallet(client, bob, "GBP")
    wallets = client.get("/v1/wallets", headers=alice.headers).json()["items"]
    assert [(w["currency"], w["balance"]) for w in wallets] == [("USD", 2_500), ("VND", 0)]


def test_missing_wallet_is_not_found_with_a_hint(client: TestClient, alice: Account) -> None:
    response = client.get("/v1/wallets/GBP", headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (404, "wallet_not_found")
    assert "gopherpay wallets open GBP" in response.json()["detail"]


def test_closing_an_empty_wallet_removes_it_from_the_list(client: TestClient, alice: Account) -> None:
    open_wallet(client, alice, "EUR")
    closed = client.delete("/v1/wallets/EUR", headers=alice.headers)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert client.get("/v1/wallets", headers=alice.headers).json()["items"] == []


def test_closing_a_wallet_with_money_is_refused_and_names_the_balance(
    client: TestClient, api: Api, admin: Account, alice: Account
) -> None:
    api.deposit(admin, alice.email, 1_234, "USD")
    response = client.delete("/v1/wallets/USD", headers=alice.headers)
    assert (response.status_code, response.json()["code"]) == (409, "wallet_not_empty")
    assert "12.34 USD" in response.json()["detail"]
    assert api.balance(alice) == 1_234


def test_a_closed_wallet_can_be_opened_again(client: TestClient, alice: Account) -> None:
    first = open_wallet(client, alice, "EUR")
    client.delete("/v1/wallets/EUR", headers=alice.headers)
    second = open_wallet(client, alice, "EUR")
    assert second["id"] != first["id"]


def test_recipient_without_a_wallet_gets_one_opened(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 5_000, "EUR")
    assert api.transfer(alice, bob.email, 1_999, "EUR").status_code == 201
    assert api.balance(bob, "EUR") == 1_999
