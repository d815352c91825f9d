"""The engine's set-based hot path: a batch costs the same handful of statements whatever
its size, a hot wallet is locked and updated once per batch, each user's event numbers are
taken once per batch, and the database's twins of the invariants still catch a bad batch
that the Python checks let through. Both backends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.transfers import engine
from gopherpayd.transfers import repository as transfer_repository
from gopherpayd.transfers.outcomes import Moved
from gopherpayd.transfers.writer import CoalescingWriter
from gopherpayd.wallets import repository as wallet_repository
from tests.transfers.helpers import Fund, MakePrincipal
from tests.transfers.test_engine import alice, balance, bob, count, send, wallet_id

__all__ = ["alice", "bob"]  # fixtures shared with test_engine

BOUND_SECONDS = 60.0


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement `db` sends while the block runs (executemany counts once)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def moving(statements_seen: list[str]) -> list[str]:
    """The statements that are not transaction control."""
    control = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)", re.IGNORECASE)
    return [s for s in statements_seen if not control.match(s)]


def senders(make_principal: MakePrincipal, fund: Fund, n: int) -> list[Principal]:
    people = [make_principal(f"sender{i}@example.com") for i in range(n)]
    for person in people:
        fund(person, 10_000)
    return people


@pytest.mark.parametrize("size", [5, 60])
def test_a_batch_costs_the_same_statements_whatever_its_size(
    db: Database, fund: Fund, make_principal: MakePrincipal, size: int
) -> None:
    people = senders(make_principal, fund, 6)
    recipients = [make_principal(f"recipient{i}@example.com") for i in range(6)]
    batch = [send(people[i % 6], recipients[(i + 1) % 6].email, 10 + i) for i in range(size)]

    with statements(db) as seen:
        results = engine.execute(db, batch)

    assert all(isinstance(r, Moved) for r in results)
    sent = moving(seen)
    # Keys, users, wallets, the lock, then one write per table: wallets opened, transfers,
    # entries, balances, the users' numbers (lock + update on Postgres), outbox, keys, NOTIFY.
    assert len(sent) <= 14, sent
    assert count(db, "transfers", "kind = 'transfer'") == size
    total = sum(10 + i for i in range(size))
    paid = {(i + 1) % 6 for i in range(size)}
    assert sum(balance(db, recipients[n]) for n in paid) == total


def test_the_statement_count_does_not_grow_with_the_batch(
    db: Database, fund: Fund, make_principal: MakePrincipal
) -> None:
    people = senders(make_principal, fund, 4)
    bob = make_principal("bob@example.com")
    fund(bob, 1)
    counts = []
    for size in (4, 40):
        with statements(db) as seen:
            engine.execute(db, [send(people[i % 4], bob.email, 1) for i in range(size)])
        counts.append(len(moving(seen)))

    assert counts[0] == counts[1]


def test_a_hot_wallet_is_locked_and_updated_once_per_batch(
    db: Database, fund: Fund, make_principal: MakePrincipal
) -> None:
    people = senders(make_principal, fund, 10)
    merchant = make_principal("merchant@example.com")
    fund(merchant, 1)
    batch = [send(people[i % 10], merchant.email, 7) for i in range(50)]

    with statements(db) as seen:
        results = engine.execute(db, batch)

    assert all(isinstance(r, Moved) for r in results)
    updates = [s for s in moving(seen) if s.lstrip().upper().startswith("UPDATE WALLETS")]
    assert len(updates) == 1
    assert balance(db, merchant) == 1 + 50 * 7
    assert [balance(db, p) for p in people] == [10_000 - 5 * 7] * 10
    # Each transfer's event shows the balance right after it: 8, 15, 22, ... for the merchant.
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT user_seq, payload FROM outbox WHERE event_type = 'transfer.received' "
                "AND aggregate_key = :user ORDER BY user_seq"
            ),
            {"user": str(merchant.user_id)},
        ).all()
    assert [json.loads(p)["new_balance"] for _seq, p in rows] == [1 + 7 * n for n in range(1, 51)]
    seqs = [int(seq) for seq, _p in rows]
    assert seqs == list(range(seqs[0], seqs[0] + 50))  # gap-free, in the batch's order


def test_a_users_event_numbers_are_taken_once_per_batch(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    fund(bob, 1)

    with statements(db) as seen:
        engine.execute(db, [send(alice, bob.email, 1) for _ in range(20)])

    numbering = [s for s in moving(seen) if s.lstrip().upper().startswith("UPDATE USERS")]
    assert len(numbering) == 1
    with db.engine.connect() as connection:
        per_user = connection.execute(
            text(
                "SELECT aggregate_key, COUNT(*), MIN(user_seq), MAX(user_seq) "
                "FROM outbox GROUP BY aggregate_key"
            )
        ).all()
    for _user, events, lowest, highest in per_user:
        assert highest - lowest + 1 == events  # no gaps


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # the trigger is Postgres's
def test_the_entries_trigger_catches_a_batch_whose_entries_do_not_balance(
    db: Database, fund: Fund, alice: Principal, bob: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one entry written wrong behind the Python check's back, the deferred sum-to-zero
    trigger refuses the whole batch at commit; the writer then isolates the bad movement and
    its neighbours commit."""
    fund(alice, 1_000)
    real_insert = transfer_repository.insert_transfers
    poison_amount = 13

    def corrupt(session: Any, transfers: list[dict[str, Any]], entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if entry["amount"] == poison_amount:
                entry["amount"] = poison_amount + 1  # credits one minor unit out of nowhere
        real_insert(session, transfers, entries)

    monkeypatch.setattr(transfer_repository, "insert_transfers", corrupt)
    writer = CoalescingWriter(db)
    futures = [writer.submit(send(alice, bob.email, n)) for n in (5, poison_amount, 7)]

    outcomes: list[object] = []
    for future in futures:
        try:
            outcomes.append(future.result(BOUND_SECONDS))
        except Exception as error:  # noqa: BLE001 - the culprit's own error is the point
            outcomes.append(error)

    assert isinstance(outcomes[1], Exception) and "sum to zero" in str(outcomes[1]).lower(), outcomes[1]
    assert isinstance(outcomes[0], Moved) and isinstance(outcomes[2], Moved)
    assert balance(db, bob) == 5 + 7
    assert count(db, "transfers", "kind = 'transfer'") == 2


def test_the_balance_check_catches_a_user_wallet_the_engine_would_take_negative(
    db: Database, fund: Fund, alice: Principal, bob: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(alice, 100)
    real_set = wallet_repository.set_balances
    alice_wallet = wallet_id(db, alice)

    def overdraw(session: Any, balances: dict[Any, int], held: dict[Any, int] | None = None) -> None:
        real_set(session, {w: (-1 if w == alice_wallet else b) for w, b in balances.items()}, held)

    monkeypatch.setattr(wallet_repository, "set_balances", overdraw)

    with pytest.raises(IntegrityError, match="ck_wallets_user_balance_non_negative|CHECK constraint"):
        engine.execute(db, [send(alice, bob.email, 10)])

    assert balance(db, alice) == 100
    assert count(db, "transfers", "kind = 'transfer'") == 0
