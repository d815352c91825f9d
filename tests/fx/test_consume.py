"""consume_quote, what execution will call in its transaction: a quote is used exactly once,
by its own customer, before it expires; two transactions at once: exactly one wins."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session

from gopherpayd.fx.errors import QuoteExpired, QuoteNotFound, QuoteUsed
from gopherpayd.fx.models import FxQuote
from gopherpayd.fx.service import consume_quote
from gopherpayd.kit.db import Database
from tests.fx.conftest import Quote, SetRate
from tests.support.api import Account


@pytest.fixture
def quote_id(set_rate: SetRate, quote: Quote) -> uuid.UUID:
    assert set_rate("USD", "EUR", "0.9213", spread="0.5%").status_code == 200
    response = quote("USD", "EUR", sell_amount=10_000)
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["quote_id"])


def user(account: Account) -> uuid.UUID:
    return uuid.UUID(account.user_id)


def stored(db: Database, quote_id: uuid.UUID) -> FxQuote:
    with db.session() as session:
        found = session.get(FxQuote, quote_id)
        assert found is not None
        return found


def test_a_quote_is_consumed_once_and_remembers_by_which_transfer(
    db: Database, quote_id: uuid.UUID, alice: Account
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()

    used = db.run(consume_quote, quote_id, user(alice), first)
    again = db.run(consume_quote, quote_id, user(alice), second)

    assert isinstance(used, FxQuote)
    assert (used.id, used.sell_amount, used.buy_amount, used.fee, used.transfer_id) == (
        quote_id,
        10_000,
        9_166,
        50,
        first,
    )
    assert isinstance(again, QuoteUsed) and again.code == "quote_used"
    assert stored(db, quote_id).transfer_id == first


def test_a_quote_at_its_expiry_is_refused_and_a_microsecond_before_it_is_not(
    db: Database, quote_id: uuid.UUID, alice: Account
) -> None:
    expires_at = stored(db, quote_id).expires_at

    at_expiry = db.run(consume_quote, quote_id, user(alice), uuid.uuid4(), expires_at)
    just_before = db.run(
        consume_quote, quote_id, user(alice), uuid.uuid4(), expires_at - timedelta(microseconds=1)
    )

    assert isinstance(at_expiry, QuoteExpired) and at_expiry.code == "quote_expired"
    assert isinstance(just_before, FxQuote)


def test_an_expired_quote_stays_unused(db: Database, quote_id: uuid.UUID, alice: Account) -> None:
    later = stored(db, quote_id).expires_at + timedelta(seconds=1)

    refused = db.run(consume_quote, quote_id, user(alice), uuid.uuid4(), later)

    assert isinstance(refused, QuoteExpired)
    assert (stored(db, quote_id).used_at, stored(db, quote_id).transfer_id) == (None, None)


def test_a_used_quote_says_used_even_after_it_expired(
    db: Database, quote_id: uuid.UUID, alice: Account
) -> None:
    assert isinstance(db.run(consume_quote, quote_id, user(alice), uuid.uuid4()), FxQuote)
    later = stored(db, quote_id).expires_at + timedelta(hours=1)

    assert isinstance(db.run(consume_quote, quote_id, user(alice), uuid.uuid4(), later), QuoteUsed)


def test_someone_elses_quote_and_an_unknown_quote_are_not_found(
    db: Database, quote_id: uuid.UUID, bob: Account
) -> None:
    by_bob = db.run(consume_quote, quote_id, user(bob), uuid.uuid4())
    unknown = db.run(consume_quote, uuid.uuid4(), user(bob), uuid.uuid4())

    assert isinstance(by_bob, QuoteNotFound) and by_bob.code == "quote_not_found"
    assert isinstance(unknown, QuoteNotFound)
    assert stored(db, quote_id).used_at is None


def test_a_second_consume_waits_for_the_first_transaction_then_finds_the_quote_used(
    db: Database, quote_id: uuid.UUID, alice: Account
) -> None:
    first_consumed, second_started = threading.Event(), threading.Event()
    results: dict[str, object] = {}
    times: dict[str, float] = {}

    def first() -> None:
        with db.session() as session:
            results["first"] = consume_quote(session, quote_id, user(alice), uuid.uuid4())
            first_consumed.set()
            second_started.wait(10)
            time.sleep(0.3)  # the second is now waiting on the row lock (Postgres) or write lock (SQLite)
            times["first_commits"] = time.monotonic()

    def second() -> None:
        first_consumed.wait(10)
        with Session(db.engine, expire_on_commit=False) as session:
            second_started.set()
            results["second"] = consume_quote(session, quote_id, user(alice), uuid.uuid4())
            times["second_decided"] = time.monotonic()
            session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert isinstance(results["first"], FxQuote)
    assert isinstance(results["second"], QuoteUsed)
    assert times["second_decided"] >= times["first_commits"]


def test_of_many_concurrent_consumes_exactly_one_wins(
    db: Database, quote_id: uuid.UUID, alice: Account
) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    transfers = [uuid.uuid4() for _ in range(racers)]
    results: list[object] = [None] * racers

    def race(index: int) -> None:
        def consume(session: Session) -> object:
            return consume_quote(session, quote_id, user(alice), transfers[index])

        barrier.wait(10)
        results[index] = db.run(consume)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    winners = [i for i, result in enumerate(results) if isinstance(result, FxQuote)]
    assert len(winners) == 1
    assert all(isinstance(results[i], QuoteUsed) for i in range(racers) if i not in winners)
    assert stored(db, quote_id).transfer_id == transfers[winners[0]]
