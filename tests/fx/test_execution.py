"""Executing FX quotes, on both backends: an exchange between one's own wallets and a payment
received in another currency each write one transfer whose entries are the quote's legs
(payer -> FX house and revenue in the sell currency, FX house -> recipient in the buy one);
each currency sums to zero; a quote is executed once, before it expires, by its owner only."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gopherpayd.fx import repository as fx_repository
from gopherpayd.fx import terms
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.transfers import service, writer
from gopherpayd.transfers.outcomes import Refused
from gopherpayd.transfers.schemas import ExchangeRequestBody
from gopherpayd.vocabulary import Role
from tests.fx.conftest import Quote, SetRate
from tests.support.api import Account, Api


@pytest.fixture
def usd_eur(set_rate: SetRate) -> None:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200


def new_quote(quote: Quote, account: Account, sell_amount: int = 10_000) -> dict[str, Any]:
    response = quote("USD", "EUR", account, sell_amount=sell_amount)
    assert response.status_code == 201, response.text
    return dict(response.json())


def exchange(client: TestClient, account: Account, quote_id: str, key: str | None = None) -> Any:
    return client.post(
        "/v1/fx/exchange",
        json={"quote_id": quote_id},
        headers={**account.headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def pay(client: TestClient, account: Account, to: str, quote: dict[str, Any], key: str | None = None) -> Any:
    body = {"amount": quote["sell_amount"], "currency": "USD", "to_email": to, "quote_id": quote["quote_id"]}
    return client.post(
        "/v1/transfers", json=body, headers={**account.headers, "Idempotency-Key": key or str(uuid.uuid4())}
    )


def sql(db: Database, statement: str, **params: Any) -> list[Any]:
    with db.engine.begin() as connection:
        result = connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


def wallet_balances(db: Database) -> dict[tuple[str, str], int]:
    """(kind or owner email, currency) -> balance, for every wallet."""
    rows = sql(
        db,
        "SELECT COALESCE(u.email, w.kind), w.currency, w.balance FROM wallets w "
        "LEFT JOIN users u ON u.id = w.owner_id",
    )
    return {(who, currency): int(balance) for who, currency, balance in rows}


def entries_by_currency(db: Database, transfer_id: str) -> dict[str, list[int]]:
    key = uuid.UUID(transfer_id).hex if db.is_sqlite else transfer_id
    found: dict[str, list[int]] = {}
    for currency, amount in sql(db, "SELECT currency, amount FROM entries WHERE transfer_id = :t", t=key):
        found.setdefault(currency, []).append(int(amount))
    return found


def test_an_exchange_writes_the_quotes_legs_in_one_transfer_and_each_currency_sums_to_zero(
    client: TestClient, api: Api, db: Database, admin: Account, alice: Account, quote: Quote, usd_eur: None
) -> None:
    api.deposit(admin, alice.email, 12_000)
    offer = new_quote(quote, alice)
    assert (offer["sell_amount"], offer["buy_amount"], offer["fee"]) == (10_000, 9_166, 50)

    response = exchange(client, alice, offer["quote_id"])

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["amount"], body["currency"], body["direction"]) == (
        "exchange",
        10_000,
        "USD",
        "out",
    )
    assert body["fx"] == {
        "quote_id": offer["quote_id"],
        "sell": "USD",
        "sell_amount": 10_000,
        "buy": "EUR",
        "buy_amount": 9_166,
        "fee": 50,
        "rate": "0.9213",
        "spread": "0.005",
    }
    assert body["sender"]["user_id"] == body["recipient"]["user_id"] == alice.user_id
    balances = wallet_balances(db)
    assert balances[(alice.email, "USD")] == 2_000
    assert balances[(alice.email, "EUR")] == 9_166  # opened by the exchange
    assert balances[("fx_house", "USD")] == 9_950
    assert balances[("fx_house", "EUR")] == -9_166  # the house's position: it owes what it paid out
    assert balances[("fx_revenue", "USD")] == 50
    legs = entries_by_currency(db, body["id"])
    assert sorted(legs["USD"]) == [-9_950, -50, 50, 9_950]
    assert sorted(legs["EUR"]) == [-9_166, 9_166]
    assert {currency: sum(amounts) for currency, amounts in legs.items()} == {"USD": 0, "EUR": 0}

    history = client.get("/v1/transfers", headers=alice.headers).json()["items"]
    assert history[0]["id"] == body["id"] and history[0]["fx"] == body["fx"]
    audit = api.audit(admin)
    assert audit["ok"] is True, audit
    positions = {row["currency"]: row for row in audit["fx_positions"]}
    assert (positions["USD"]["house"], positions["USD"]["revenue"]) == (9_950, 50)
    assert (positions["EUR"]["house"], positions["EUR"]["revenue"]) == (-9_166, 0)


def test_a_payment_on_a_quote_reaches_the_recipient_in_the_buy_currency(
    client: TestClient,
    api: Api,
    db: Database,
    admin: Account,
    alice: Account,
    bob: Account,
    quote: Quote,
    usd_eur: None,
) -> None:
    api.deposit(admin, alice.email, 10_000)
    offer = new_quote(quote, alice)

    response = pay(client, alice, bob.email, offer)

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["amount"], body["currency"]) == ("fx_transfer", 10_000, "USD")
    assert body["recipient"]["user_id"] == bob.user_id and body["fx"]["buy_amount"] == 9_166
    assert api.balance(alice, "USD") == 0
    assert api.balance(bob, "EUR") == 9_166
    seen_by_bob = client.get(f"/v1/transfers/{body['id']}", headers=bob.headers).json()
    assert (seen_by_bob["direction"], seen_by_bob["fx"]["buy"]) == ("in", "EUR")
    events = {
        event_type: json.loads(payload)
        for event_type, payload in sql(
            db, "SELECT event_type, payload FROM outbox WHERE event_type LIKE 'transfer.%'"
        )
    }
    sent, received = events["transfer.sent"], events["transfer.received"]
    assert (sent["amount"], sent["currency"], sent["buy_amount"], sent["buy_currency"]) == (
        10_000,
        "USD",
        9_166,
        "EUR",
    )
    assert (received["amount"], received["currency"], received["new_balance"]) == (9_166, "EUR", 9_166)
    assert len(events) == 2 and sent["quote_id"] == received["quote_id"] == offer["quote_id"]
    assert api.audit(admin)["ok"] is True


def test_a_quote_is_executed_once_and_its_key_replays_the_same_transfer(
    client: TestClient,
    api: Api,
    db: Database,
    admin: Account,
    alice: Account,
    bob: Account,
    quote: Quote,
    usd_eur: None,
) -> None:
    api.deposit(admin, alice.email, 30_000)
    offer = new_quote(quote, alice)
    key = str(uuid.uuid4())

    first = exchange(client, alice, offer["quote_id"], key)
    replay = exchange(client, alice, offer["quote_id"], key)
    again = exchange(client, alice, offer["quote_id"])
    as_payment = pay(client, alice, bob.email, offer)

    assert first.status_code == 201, first.text
    assert (replay.status_code, replay.json()["id"], replay.headers.get("Idempotency-Replayed")) == (
        201,
        first.json()["id"],
        "true",
    )
    assert (again.status_code, again.json()["code"]) == (409, "quote_used")
    assert (as_payment.status_code, as_payment.json()["code"]) == (409, "quote_used")
    assert api.balance(alice, "USD") == 20_000
    [(count,)] = sql(db, "SELECT COUNT(*) FROM transfers WHERE quote_id IS NOT NULL")
    assert count == 1


def test_an_expired_quote_is_refused_and_moves_nothing(
    client: TestClient, api: Api, db: Database, admin: Account, alice: Account, quote: Quote, usd_eur: None
) -> None:
    api.deposit(admin, alice.email, 10_000)
    offer = new_quote(quote, alice)
    key = uuid.UUID(offer["quote_id"]).hex if db.is_sqlite else offer["quote_id"]
    # Its lock ended a millisecond ago (both times moved back: the quote's own CHECKs hold).
    if db.is_sqlite:
        created = "datetime('now', '-1 hour')"
        expired = "strftime('%Y-%m-%d %H:%M:%f', 'now', '-0.001 seconds')"
    else:
        created, expired = "now() - INTERVAL '1 hour'", "clock_timestamp() - INTERVAL '1 millisecond'"
    move_back = f"UPDATE fx_quotes SET created_at = {created}, expires_at = {expired} WHERE id = :q"  # noqa: S608
    sql(db, move_back, q=key)

    response = exchange(client, alice, offer["quote_id"])

    assert (response.status_code, response.json()["code"]) == (409, "quote_expired"), response.text
    assert api.balance(alice, "USD") == 10_000
    [(used_at,)] = sql(db, "SELECT used_at FROM fx_quotes WHERE id = :q", q=key)
    assert used_at is None


def test_a_refused_execution_leaves_the_quote_unused(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, quote: Quote, usd_eur: None
) -> None:
    api.deposit(admin, alice.email, 9_999)
    offer = new_quote(quote, alice)

    broke = exchange(client, alice, offer["quote_id"])
    api.deposit(admin, alice.email, 1)
    wrong_amount = client.post(
        "/v1/transfers",
        json={"amount": 9_999, "currency": "USD", "to_email": bob.email, "quote_id": offer["quote_id"]},
        headers={**alice.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    not_bobs = exchange(client, bob, offer["quote_id"])
    in_a_batch = client.post(
        "/v1/transfers/batch",
        json={
            "items": [
                {
                    "amount": 10_000,
                    "currency": "USD",
                    "to_email": bob.email,
                    "quote_id": offer["quote_id"],
                    "key": "k1",
                }
            ]
        },
        headers=alice.headers,
    )
    then = exchange(client, alice, offer["quote_id"])

    assert (broke.status_code, broke.json()["code"]) == (409, "insufficient_funds"), broke.text
    assert (wrong_amount.status_code, wrong_amount.json()["code"]) == (400, "quote_mismatch")
    assert (not_bobs.status_code, not_bobs.json()["code"]) == (404, "quote_not_found")
    assert in_a_batch.json()["results"][0]["problem"]["code"] == "quote_not_in_batch"
    assert then.status_code == 201, then.text


@pytest.mark.parametrize("way", ["exchange", "payment"])
def test_a_quote_executed_by_many_requests_at_once_makes_exactly_one_transfer(
    client: TestClient,
    api: Api,
    db: Database,
    admin: Account,
    alice: Account,
    bob: Account,
    quote: Quote,
    usd_eur: None,
    way: str,
) -> None:
    api.deposit(admin, alice.email, 100_000)
    offer = new_quote(quote, alice)
    start = threading.Barrier(6)
    answers: list[Any] = [None] * 6

    def run(index: int) -> None:
        start.wait()
        if way == "exchange":
            answers[index] = exchange(client, alice, offer["quote_id"])
        else:
            answers[index] = pay(client, alice, bob.email, offer)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    outcomes = sorted("moved" if answer.status_code == 201 else answer.json()["code"] for answer in answers)
    assert outcomes == ["moved"] + ["quote_used"] * 5, [a.text for a in answers]
    assert api.balance(alice, "USD") == 90_000
    [(count,)] = sql(db, "SELECT COUNT(*) FROM transfers WHERE quote_id IS NOT NULL")
    assert count == 1
    assert api.audit(admin)["ok"] is True


def test_two_executions_of_one_quote_in_one_writer_batch_make_one_transfer(
    db: Database, api: Api, admin: Account, alice: Account, quote: Quote, usd_eur: None
) -> None:
    api.deposit(admin, alice.email, 30_000)
    offer = new_quote(quote, alice)
    caller = Principal(uuid.UUID(alice.user_id), uuid.UUID(alice.session_id), alice.email, Role.USER)
    stored_quote = terms.QuoteTerms.of(db.run(fx_repository.get_quote, uuid.UUID(offer["quote_id"])))
    body = ExchangeRequestBody(quote_id=uuid.UUID(offer["quote_id"]))
    commits = writer.CoalescingWriter(db)
    futures = [
        commits.submit(service.exchange_movement(caller, body, key, stored_quote))
        for key in ("first", "second")
    ]

    outcomes = [future.result(timeout=60) for future in futures]

    assert [type(outcome).__name__ for outcome in outcomes] == ["Moved", "Refused"]
    assert isinstance(outcomes[1], Refused) and outcomes[1].refusal.code == "quote_used"
    assert api.balance(alice, "USD") == 20_000


def test_a_dry_run_of_a_payment_on_a_quote_shows_its_fee_and_leaves_the_quote_unused(
    client: TestClient, api: Api, admin: Account, alice: Account, bob: Account, quote: Quote, usd_eur: None
) -> None:
    api.deposit(admin, alice.email, 10_000)
    offer = new_quote(quote, alice)
    body = {"amount": 10_000, "currency": "USD", "to_email": bob.email, "quote_id": offer["quote_id"]}

    preview = client.post("/v1/transfers", params={"dry_run": "true"}, json=body, headers=alice.headers)

    assert preview.status_code == 200, preview.text
    assert preview.json()["fee"] == {"amount": 50, "currency": "USD"}
    assert preview.json()["transfer"]["fx"]["buy_amount"] == 9_166
    assert pay(client, alice, bob.email, offer).status_code == 201  # still unused


def test_refusals_of_an_execution_come_in_the_documented_order(
    client: TestClient,
    api: Api,
    db: Database,
    admin: Account,
    alice: Account,
    bob: Account,
    quote: Quote,
    usd_eur: None,
) -> None:
    """docs/api.md, "Executing a quote": a request breaking several rules gets the first one's code."""
    api.deposit(admin, alice.email, 5_000)
    bobs = new_quote(quote, bob)
    used = new_quote(quote, alice, 1_000)
    assert exchange(client, alice, used["quote_id"]).status_code == 201
    costly = new_quote(quote, alice, 9_000)  # more than alice has left

    def code(response: Any) -> tuple[int, str]:
        return response.status_code, response.json()["code"]

    no_key = client.post("/v1/fx/exchange", json={"quote_id": bobs["quote_id"]}, headers=alice.headers)
    assert code(no_key) == (400, "idempotency_key_required")  # before the quote is looked up
    wrong_amount_of_bobs = client.post(
        "/v1/transfers",
        json={"amount": 1, "currency": "USD", "to_email": bob.email, "quote_id": bobs["quote_id"]},
        headers={**alice.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert code(wrong_amount_of_bobs) == (404, "quote_not_found")  # before quote_mismatch
    assert code(exchange(client, alice, used["quote_id"])) == (409, "quote_used")  # before funds
    freeze = {"reason": "test"}
    wallet_freeze = f"/v1/admin/users/{alice.email}/wallets/USD/freeze"
    assert client.post(wallet_freeze, json=freeze, headers=admin.headers).status_code == 200
    assert code(exchange(client, alice, used["quote_id"])) == (409, "quote_used")  # before wallet_frozen
    assert code(exchange(client, alice, costly["quote_id"])) == (409, "wallet_frozen")  # before funds
    assert (
        client.post(
            wallet_freeze.replace("/freeze", "/unfreeze"), json=freeze, headers=admin.headers
        ).status_code
        == 200
    )
    assert code(exchange(client, alice, costly["quote_id"])) == (409, "insufficient_funds")
    assert code(pay(client, alice, "nobody@example.com", costly)) == (404, "recipient_not_found")
    assert (
        client.post(f"/v1/admin/users/{alice.email}/freeze", json=freeze, headers=admin.headers).status_code
        == 200
    )
    assert code(exchange(client, alice, used["quote_id"])) == (403, "account_frozen")  # before the quote


def test_a_quote_another_process_made_is_read_from_the_database_and_executes_the_same(
    client: TestClient,
    api: Api,
    admin: Account,
    alice: Account,
    quote: Quote,
    usd_eur: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon keeps the terms of the quotes it made (gopherpayd.fx.terms) so executing one
    needs no read first; a quote it does not know (another process made it) is read instead."""
    api.deposit(admin, alice.email, 20_000)
    known, unknown = new_quote(quote, alice), new_quote(quote, alice)
    assert terms.RECENT.get(uuid.UUID(known["quote_id"])) is not None
    forgetful = terms.RecentQuotes()
    forgetful.remember(terms.RECENT.get(uuid.UUID(known["quote_id"])))  # type: ignore[arg-type]
    monkeypatch.setattr(terms, "RECENT", forgetful)
    monkeypatch.setattr(service, "RECENT", forgetful)

    from_memory = exchange(client, alice, known["quote_id"])
    read_back = exchange(client, alice, unknown["quote_id"])

    assert from_memory.status_code == read_back.status_code == 201, (from_memory.text, read_back.text)
    assert from_memory.json()["fx"] | {"quote_id": None} == read_back.json()["fx"] | {"quote_id": None}
    assert api.balance(alice, "EUR") == 2 * 9_166


def test_the_recent_quotes_keep_the_newest_only() -> None:
    recent = terms.RecentQuotes(capacity=2)
    made = [
        terms.QuoteTerms(uuid.uuid4(), uuid.uuid4(), "USD", 100, "EUR", 91, 1, "0.9213", "0.005")
        for _ in range(3)
    ]
    for quote_terms in made:
        recent.remember(quote_terms)
    assert [recent.get(t.id) for t in made] == [None, made[1], made[2]]
