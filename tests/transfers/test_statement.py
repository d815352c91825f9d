"""Statements: opening balance, every movement, totals, closing balance."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api import Account, Api

DAY = timedelta(days=1)


def statement(api: Api, account: Account, since: str, until: str, currency: str = "USD") -> Any:
    response = api.client.get(
        "/v1/statement",
        params={"currency": currency, "since": since, "until": until},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def around_now() -> tuple[str, str]:
    now = datetime.now(UTC)
    return (now - DAY).isoformat(), (now + DAY).isoformat()


def test_opening_plus_movements_is_the_closing_balance_and_the_wallet_balance(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    api.transfer(alice, bob.email, 1_234)
    api.transfer(bob, alice.email, 500)

    since, until = around_now()
    sheet = statement(api, alice, since, until)

    amounts = [line["amount"] for line in sheet["lines"]]
    assert amounts == [10_000, -1_234, 500]
    assert [line["balance_after"] for line in sheet["lines"]] == [10_000, 8_766, 9_266]
    assert (sheet["opening_balance"], sheet["total_in"], sheet["total_out"]) == (0, 10_500, 1_234)
    assert sheet["opening_balance"] + sum(amounts) == sheet["closing_balance"] == api.balance(alice)
    assert sheet["lines"][1]["transfer"]["recipient"]["email"] == bob.email


def test_a_later_period_opens_with_what_the_earlier_one_closed_with(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    second = api.transfer(alice, bob.email, 1_234).json()
    api.transfer(alice, bob.email, 66)
    since, until = around_now()

    earlier = statement(api, alice, since, second["created_at"])
    later = statement(api, alice, second["created_at"], until)

    assert [line["amount"] for line in earlier["lines"]] == [10_000]
    assert later["opening_balance"] == earlier["closing_balance"] == 10_000
    assert [line["amount"] for line in later["lines"]] == [-1_234, -66]
    assert later["closing_balance"] == api.balance(alice) == 8_700


def test_a_statement_shows_only_the_currency_asked_for_and_only_your_own(
    api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)
    api.deposit(admin, alice.email, 700, currency="EUR")
    api.deposit(admin, bob.email, 300)
    since, until = around_now()

    euros = statement(api, alice, since, until, currency="EUR")

    assert [line["amount"] for line in euros["lines"]] == [700]
    assert euros["closing_balance"] == 700
    assert statement(api, bob, since, until)["closing_balance"] == 300


def test_a_period_that_ends_before_it_starts_is_a_clear_400(api: Api, alice: Account) -> None:
    since, until = around_now()
    response = api.client.get(
        "/v1/statement", params={"currency": "USD", "since": until, "until": since}, headers=alice.headers
    )
    assert (response.status_code, response.json()["detail"]) == (400, "until must be later than since")
