"""The coalescing writer (group commit): movements that arrive while a commit runs share
the next transaction, each caller gets its own result, and a movement that breaks the
transaction breaks only itself. Both backends, the real engine underneath."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.transfers import engine
from gopherpayd.transfers.movements import MoneyMovement
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.writer import CoalescingWriter, writer_for
from tests.support.api import Account, Api
from tests.transfers.helpers import Fund, MakePrincipal, wait_until
from tests.transfers.test_engine import balance, count, row_counts, send

GATE_BOUND_SECONDS = 30.0


def status(outcome: MovementOutcome) -> int:
    return 201 if isinstance(outcome, Moved) else outcome.refusal.status


def code(outcome: MovementOutcome) -> str | None:
    return outcome.refusal.code if isinstance(outcome, Refused) else None


def amount(outcome: MovementOutcome) -> int:
    assert isinstance(outcome, Moved), outcome
    return outcome.transfer.amount


@pytest.fixture
def alice(make_principal: MakePrincipal) -> Principal:
    return make_principal("alice@example.com")


@pytest.fixture
def bob(make_principal: MakePrincipal) -> Principal:
    return make_principal("bob@example.com")


class GatedEngine:
    """The real engine, except that the first batch waits at a gate until the test opens it,
    so that the test can queue movements behind a commit that is still running."""

    def __init__(self) -> None:
        self.first_batch_started = threading.Event()
        self.gate = threading.Event()
        self.batches: list[int] = []

    def __call__(self, db: Database, movements: list[MoneyMovement], retries: int) -> list[MovementOutcome]:
        self.batches.append(len(movements))
        if len(self.batches) == 1:
            self.first_batch_started.set()
            assert self.gate.wait(GATE_BOUND_SECONDS), "the test never opened the gate"
        return engine.execute(db, movements, retries=retries)


def test_a_lone_movement_is_committed_on_its_own_without_waiting_for_company(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    writer = CoalescingWriter(db)

    result = writer.execute(send(alice, bob.email, 250))

    assert (status(result), amount(result)) == (201, 250)
    assert writer.stats.batch_sizes == [1]
    assert (balance(db, alice), balance(db, bob)) == (750, 250)


def test_movements_that_arrive_during_a_commit_share_the_next_transaction(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated)

    first = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    queued = [writer.submit(send(alice, bob.email, 10 + n)) for n in range(10)]
    gated.gate.set()
    results = [first.result(GATE_BOUND_SECONDS)] + [f.result(GATE_BOUND_SECONDS) for f in queued]

    assert gated.batches == [1, 10]
    assert [status(r) for r in results] == [201] * 11
    assert [amount(r) for r in results] == [1] + [10 + n for n in range(10)]
    assert balance(db, bob) == 1 + sum(10 + n for n in range(10))
    assert count(db, "transfers", "kind = 'transfer'") == 11


def test_the_batch_is_bounded_and_the_rest_waits_for_the_next_one(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated, max_batch=4)

    first = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    queued = [writer.submit(send(alice, bob.email, 1)) for _ in range(9)]
    gated.gate.set()
    statuses = [status(f.result(GATE_BOUND_SECONDS)) for f in [first, *queued]]

    assert statuses == [201] * 10
    assert gated.batches == [1, 4, 4, 1]


def test_a_refusal_in_a_batch_refuses_only_itself(
    db: Database, fund: Fund, make_principal: MakePrincipal, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    carol = make_principal("carol@example.com")
    fund(carol, 1)
    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated)
    used_key = "used-once"
    [stored] = engine.execute(db, [send(alice, bob.email, 5, key=used_key)])
    assert status(stored) == 201

    blocker = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    futures = [
        writer.submit(send(alice, bob.email, 100)),
        writer.submit(send(carol, bob.email, 100)),  # carol has 0.01
        writer.submit(send(alice, "nobody@example.com", 100)),
        writer.submit(send(alice, bob.email, 7, key=used_key)),  # the key, for another amount
        writer.submit(send(alice, bob.email, 200)),
    ]
    gated.gate.set()
    answers = [(status(r), code(r)) for r in (f.result(GATE_BOUND_SECONDS) for f in futures)]

    assert status(blocker.result(GATE_BOUND_SECONDS)) == 201
    assert gated.batches == [1, 5]
    assert answers == [
        (201, None),
        (409, "insufficient_funds"),
        (404, "recipient_not_found"),
        (409, "idempotency_key_reused"),
        (201, None),
    ]
    assert (balance(db, alice), balance(db, bob)) == (1_000 - 5 - 1 - 100 - 200, 5 + 1 + 100 + 200)


def test_a_movement_that_breaks_the_transaction_is_split_off_and_its_neighbours_commit(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    """A constraint the Python checks do not know (the initiator must be a real user)
    aborts the whole transaction; the writer splits the batch until the culprit is alone."""
    fund(alice, 10_000)
    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated)
    amounts = [11, 12, 13, 14, 15, 16, 17]
    culprit_at = 4

    blocker = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    futures = []
    for index, amount in enumerate(amounts):
        movement = send(alice, bob.email, amount)
        if index == culprit_at:
            movement = dataclasses.replace(movement, initiated_by=uuid.uuid4())
        futures.append(writer.submit(movement))
    gated.gate.set()
    assert status(blocker.result(GATE_BOUND_SECONDS)) == 201

    culprit = futures.pop(culprit_at)
    with pytest.raises(IntegrityError):
        culprit.result(GATE_BOUND_SECONDS)
    neighbours = [f.result(GATE_BOUND_SECONDS) for f in futures]
    moved = [a for i, a in enumerate(amounts) if i != culprit_at]

    assert [status(r) for r in neighbours] == [201] * len(moved)
    assert writer.stats.splits >= 1
    assert gated.batches[1] == len(amounts)  # they were one batch before the split
    assert balance(db, bob) == 1 + sum(moved)
    assert count(db, "transfers", "kind = 'transfer'") == 1 + len(moved)
    assert count(db, "idempotency_keys") == 1 + 1 + len(moved)  # the funding deposit, too


def test_an_error_outside_the_database_is_isolated_the_same_way(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)

    def broken_check(_session: object) -> None:
        raise RuntimeError("a bug in one movement's precheck")

    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated)
    blocker = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    good = writer.submit(send(alice, bob.email, 2))
    bad = writer.submit(dataclasses.replace(send(alice, bob.email, 3), precheck=broken_check))
    also_good = writer.submit(send(alice, bob.email, 4))
    gated.gate.set()

    with pytest.raises(RuntimeError, match="precheck"):
        bad.result(GATE_BOUND_SECONDS)
    assert [status(f.result(GATE_BOUND_SECONDS)) for f in (blocker, good, also_good)] == [201] * 3
    assert balance(db, bob) == 1 + 2 + 4


def test_the_writer_thread_ends_when_idle_and_the_next_movement_starts_it_again(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    writer = CoalescingWriter(db, idle_seconds=0.05)

    assert status(writer.execute(send(alice, bob.email, 1))) == 201
    wait_until(lambda: writer._thread is None, "the idle writer thread ended")
    assert status(writer.execute(send(alice, bob.email, 2))) == 201
    assert balance(db, bob) == 3


def test_concurrent_http_transfers_go_through_one_writer_and_all_get_their_own_answer(
    client: TestClient, db: Database, api: Api, admin: Account
) -> None:
    dana, erin = api.signup("dana@example.com"), api.signup("erin@example.com")
    api.deposit(admin, dana.email, 10_000)
    before = writer_for(db).stats.movements
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def one(amount: int) -> None:
        response = api.transfer(dana, erin.email, amount)
        with lock:
            results.append((response.status_code, response.json()["amount"]))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 21)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(results) == [(201, n) for n in range(1, 21)]
    assert writer_for(db).stats.movements - before == 20
    assert api.balance(erin) == sum(range(1, 21))
    assert api.audit(admin)["ok"] is True


def test_an_atomic_group_moves_everything_or_nothing_and_names_the_culprit(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    writer = CoalescingWriter(db)
    before = row_counts(db)
    keys = [f"atomic-{n}" for n in range(3)]
    failing = [
        send(alice, bob.email, 100, key=keys[0]),
        send(alice, bob.email, 5_000, key=keys[1]),
        send(alice, bob.email, 100, key=keys[2]),
    ]

    answers = [(status(r), code(r)) for r in writer.submit_atomic(failing).result(GATE_BOUND_SECONDS)]

    assert answers == [(409, "linked_failed"), (409, "insufficient_funds"), (409, "linked_failed")]
    assert row_counts(db) == before  # not even the idempotency records
    assert balance(db, alice) == 1_000

    fixed = [send(alice, bob.email, 100, key=k) for k in keys]
    first = writer.submit_atomic(fixed).result(GATE_BOUND_SECONDS)
    again = writer.submit_atomic(fixed).result(GATE_BOUND_SECONDS)

    assert [status(r) for r in first] == [201, 201, 201]
    assert [(status(r), r.replayed) for r in again] == [(201, True)] * 3
    assert (balance(db, alice), balance(db, bob)) == (700, 300)


def test_a_group_queued_behind_single_movements_commits_alone_and_they_still_coalesce(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    gated = GatedEngine()
    writer = CoalescingWriter(db, apply=gated)

    blocker = writer.submit(send(alice, bob.email, 1))
    assert gated.first_batch_started.wait(GATE_BOUND_SECONDS)
    before = [writer.submit(send(alice, bob.email, 1)) for _ in range(3)]
    group = writer.submit_atomic([send(alice, bob.email, 2) for _ in range(4)])
    after = [writer.submit(send(alice, bob.email, 1)) for _ in range(2)]
    gated.gate.set()

    assert [status(f.result(GATE_BOUND_SECONDS)) for f in [blocker, *before, *after]] == [201] * 6
    assert [status(r) for r in group.result(GATE_BOUND_SECONDS)] == [201] * 4
    assert gated.batches == [1, 3, 2]  # the group went through engine.execute(atomic=True), alone
    assert writer.stats.batch_sizes == [1, 3, 4, 2]
    assert writer.pending == 0
    assert balance(db, bob) == 1 + 3 + 8 + 2
