"""History: a user's transfers newest first, filtered and paginated."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.support.api import Account, Api


def history(client: TestClient, account: Account, **params: object) -> dict:
    response = client.get("/v1/transfers", params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def seed(api: Api, admin: Account, alice: Account, bob: Account) -> list[str]:
    """Deposit, send, receive, in two currencies; returns the ids oldest first."""
    ids = [api.deposit(admin, alice.email, 10_000)["id"]]
    ids.append(api.transfer(alice, bob.email, 1_000, memo="rent").json()["id"])
    api.deposit(admin, bob.email, 50_000, "VND")
    ids.append(api.transfer(bob, alice.email, 20_000, "VND").json()["id"])
    ids.append(api.transfer(alice, bob.email, 250).json()["id"])
    return ids


def test_history_lists_sent_received_and_deposits_newest_first(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    ids = seed(api, admin, alice, bob)
    items = history(client, alice)["items"]
    assert [item["id"] for item in items] == list(reversed(ids))
    assert [(i["kind"], i["direction"]) for i in items] == [
        ("transfer", "out"),
        ("transfer", "in"),
        ("transfer", "out"),
        ("deposit", "in"),
    ]


def test_history_filters_by_currency_and_direction(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    seed(api, admin, alice, bob)
    assert [i["amount"] for i in history(client, alice, currency="VND")["items"]] == [20_000]
    assert [i["amount"] for i in history(client, alice, currency="usd", direction="out")["items"]] == [
        250,
        1_000,
    ]
    assert [i["kind"] for i in history(client, alice, direction="in")["items"]] == ["transfer", "deposit"]


def test_history_filters_by_date_range(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    seed(api, admin, alice, bob)
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert history(client, alice, since=tomorrow)["items"] == []
    assert history(client, alice, until=(now - timedelta(hours=1)).isoformat())["items"] == []
    assert (
        len(
            history(
                client, alice, since=(now - timedelta(hours=1)).isoformat(), until=now.date().isoformat()
            )["items"]
        )
        == 4
    )


def test_pagination_returns_every_transfer_exactly_once(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 100_000)
    sent = [api.transfer(alice, bob.email, 100 + n).json()["id"] for n in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = history(client, alice, direction="out", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))
    assert pages == 3


def test_history_of_someone_else_is_not_shown(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    carol = api.signup("carol@example.com")
    seed(api, admin, alice, bob)
    assert history(client, carol)["items"] == []


def test_closed_wallets_keep_their_history(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, bob.email, 500, "GBP")
    api.transfer(bob, alice.email, 500, "GBP")
    api.transfer(alice, bob.email, 500, "GBP")
    assert client.delete("/v1/wallets/GBP", headers=alice.headers).status_code == 200
    assert [i["direction"] for i in history(client, alice, currency="GBP")["items"]] == ["out", "in"]
