"""The transfer engine's batch API, the retry of transactions that lost a race, and the
ledger's database twins (CHECK constraints everywhere, triggers on Postgres)."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session

from gopherpayd.identity import service as identity_service
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database, is_lost_race, is_retryable, unique_violation
from gopherpayd.kit.errors import AppError
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine
from gopherpayd.transfers.movements import MoneyMovement, WalletTarget
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.reads import BatchReads
from gopherpayd.transfers.schemas import TransferOut, TransferRequestBody
from gopherpayd.transfers.service import user_transfer
from gopherpayd.vocabulary import Role
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets import service as wallet_service
from gopherpayd.wallets.models import Wallet
from tests.support.api import DEFAULT_PASSWORD
from tests.transfers.helpers import Fund, MakePrincipal, create_principal, deposit, settings_for


def send(
    sender: Principal, to_email: str, amount: int, currency: str = "USD", *, key: str | None = None
) -> MoneyMovement:
    body = TransferRequestBody(amount=amount, currency=currency, to_email=to_email)
    return user_transfer(sender, body, key or str(uuid.uuid4()))


def moved(outcome: MovementOutcome) -> TransferOut:
    assert isinstance(outcome, Moved), outcome
    return outcome.transfer


def refused(outcome: MovementOutcome) -> AppError:
    assert isinstance(outcome, Refused), outcome
    return outcome.refusal


def open_wallet_of(db: Database, user: Principal, currency: str) -> Wallet:
    wallet = db.run(lambda s: wallet_repository.get_open_user_wallet(s, user.user_id, currency))
    assert wallet is not None, f"{user.email} has no {currency} wallet"
    return wallet


def balance(db: Database, user: Principal, currency: str = "USD") -> int:
    return open_wallet_of(db, user, currency).balance


def wallet_id(db: Database, user: Principal, currency: str = "USD") -> uuid.UUID:
    return open_wallet_of(db, user, currency).id


def count(db: Database, table: str, where: str = "", **params: Any) -> int:
    with db.engine.connect() as connection:
        sql = f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(connection.execute(text(sql), params).scalar_one())


def row_counts(db: Database) -> dict[str, int]:
    return {
        table: count(db, table)
        for table in ("transfers", "entries", "outbox", "audit_log", "idempotency_keys", "wallets")
    }


@pytest.fixture
def alice(make_principal: MakePrincipal) -> Principal:
    return make_principal("alice@example.com")


@pytest.fixture
def bob(make_principal: MakePrincipal) -> Principal:
    return make_principal("bob@example.com")


@pytest.fixture
def carol(make_principal: MakePrincipal) -> Principal:
    return make_principal("carol@example.com")


# --- the batch API ---------------------------------------------------------------------------


def test_a_batch_returns_one_result_per_movement_in_order(
    db: Database, fund: Fund, alice: Principal, bob: Principal, carol: Principal
) -> None:
    fund(alice, 1_000)
    fund(bob, 1)  # bob's and carol's USD wallets exist before the batch
    fund(carol, 1)

    results = engine.execute(
        db,
        [
            send(alice, bob.email, 100),
            send(alice, carol.email, 200),
            # Only affordable because the first movement of this batch already credited bob.
            send(bob, carol.email, 50),
        ],
    )

    assert [type(r) for r in results] == [Moved, Moved, Moved]
    assert [r.replayed for r in results] == [False, False, False]
    transfers = [moved(r) for r in results]
    assert [(t.sender.email, t.recipient.email, t.amount) for t in transfers] == [
        ("alice@example.com", "bob@example.com", 100),
        ("alice@example.com", "carol@example.com", 200),
        ("bob@example.com", "carol@example.com", 50),
    ]
    assert [t.direction for t in transfers] == ["out", "out", "out"]
    assert (balance(db, alice), balance(db, bob), balance(db, carol)) == (700, 51, 251)
    assert count(db, "transfers", "kind = 'transfer'") == 3


@pytest.mark.parametrize(
    ("recipient", "amount", "status", "code"),
    [
        ("carol@example.com", 5_000, 409, "insufficient_funds"),  # refused under the wallet locks
        ("nobody@example.com", 10, 404, "recipient_not_found"),  # refused before any lock
        ("alice@example.com", 10, 400, "self_transfer"),
    ],
    ids=["insufficient-funds", "unknown-recipient", "self-transfer"],
)
def test_a_refused_movement_in_the_middle_of_a_batch_leaves_the_others_applied_and_writes_nothing_for_itself(
    db: Database,
    fund: Fund,
    alice: Principal,
    bob: Principal,
    carol: Principal,
    recipient: str,
    amount: int,
    status: int,
    code: str,
) -> None:
    fund(alice, 1_000)
    fund(carol, 1)
    before = row_counts(db)
    refused_key = "the-refused-one"

    results = engine.execute(
        db,
        [
            send(alice, bob.email, 300),
            send(alice, recipient, amount, key=refused_key),
            send(alice, carol.email, 200),
        ],
    )

    assert [type(r) for r in results] == [Moved, Refused, Moved]
    assert (refused(results[1]).status, refused(results[1]).code) == (status, code)
    assert [moved(results[0]).amount, moved(results[2]).amount] == [300, 200]
    assert (balance(db, alice), balance(db, bob), balance(db, carol)) == (500, 300, 201)
    after = row_counts(db)
    assert after == {
        "transfers": before["transfers"] + 2,
        "entries": before["entries"] + 4,
        "outbox": before["outbox"] + 4,  # sent + received for each applied transfer
        "audit_log": before["audit_log"],
        # The refusal itself is remembered under its key, so a retry cannot turn it into money.
        "idempotency_keys": before["idempotency_keys"] + 3,
        "wallets": before["wallets"] + 1,  # bob's USD wallet, opened by the first movement
    }
    assert count(db, "transfers", "amount = :amount", amount=amount) == 0
    assert (
        count(db, "idempotency_keys", "key = :key AND status_code = :status", key=refused_key, status=status)
        == 1
    )


def test_a_batch_can_pay_the_same_new_recipient_wallet_twice(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000, "EUR")

    results = engine.execute(db, [send(alice, bob.email, 10, "EUR"), send(alice, bob.email, 20, "EUR")])

    assert [type(r) for r in results] == [Moved, Moved], results
    assert moved(results[0]).recipient.wallet_id == moved(results[1]).recipient.wallet_id
    assert balance(db, bob, "EUR") == 30
    assert count(db, "wallets", "currency = 'EUR' AND kind = 'user'") == 2


def test_a_wallet_opened_by_a_refused_movement_is_not_reused_by_the_next_one(
    db: Database, fund: Fund, alice: Principal, bob: Principal, carol: Principal
) -> None:
    fund(alice, 1_000, "EUR")
    fund(carol, 1_000, "EUR")
    db.run(lambda s: wallet_service.set_wallet_frozen(s, alice.user_id, "EUR", True))

    results = engine.execute(
        db,
        [
            # Opens bob's EUR wallet, then is refused: the wallet goes with it.
            send(alice, bob.email, 10, "EUR"),
            send(carol, bob.email, 20, "EUR"),
        ],
    )

    assert (refused(results[0]).status, refused(results[0]).code) == (409, "wallet_frozen")
    assert moved(results[1]).amount == 20
    assert balance(db, bob, "EUR") == 20
    assert count(db, "wallets", "currency = 'EUR' AND kind = 'user'") == 3


def test_a_movement_aimed_at_a_closed_wallet_is_refused_and_moves_nothing(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    closed = db.run(lambda s: wallet_service.open_wallet(s, bob.user_id, "USD"))
    db.run(lambda s: wallet_service.close_wallet(s, bob.user_id, "USD"))

    def the_closed_wallet(reads: BatchReads) -> WalletTarget:
        return WalletTarget(wallet=reads.wallet(closed.id), currency="USD", owner_label=bob.email)

    [result] = engine.execute(
        db, [dataclasses.replace(send(alice, bob.email, 100), destination=the_closed_wallet)]
    )

    assert (refused(result).status, refused(result).code) == (409, "wallet_closed")
    assert balance(db, alice) == 1_000
    assert count(db, "transfers", "kind = 'transfer'") == 0


def test_a_key_used_twice_in_one_batch_moves_money_once(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    fund(bob, 1)

    results = engine.execute(
        db, [send(alice, bob.email, 100, key="k-1"), send(alice, bob.email, 100, key="k-1")]
    )

    assert [(type(r), r.replayed) for r in results] == [(Moved, False), (Moved, True)]
    assert moved(results[1]) == moved(results[0])
    assert (balance(db, alice), balance(db, bob)) == (900, 101)


def test_a_key_reused_for_a_different_movement_in_one_batch_is_refused(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    fund(bob, 1)

    results = engine.execute(
        db, [send(alice, bob.email, 100, key="k-1"), send(alice, bob.email, 999, key="k-1")]
    )

    assert [type(r) for r in results] == [Moved, Refused]
    assert (refused(results[1]).status, refused(results[1]).code) == (409, "idempotency_key_reused")
    assert (balance(db, alice), balance(db, bob)) == (900, 101)


def test_a_movement_executed_again_in_a_later_batch_replays_its_stored_result(
    db: Database, fund: Fund, alice: Principal, bob: Principal
) -> None:
    fund(alice, 1_000)
    movement = send(alice, bob.email, 100, key="k-1")

    [first] = engine.execute(db, [movement])
    [again] = engine.execute(db, [movement])

    assert (type(first), first.replayed) == (Moved, False)
    assert (type(again), again.replayed) == (Moved, True)
    assert moved(again) == moved(first)
    assert balance(db, alice) == 900
    assert count(db, "transfers", "kind = 'transfer'") == 1


# --- retrying a transaction that lost a race -------------------------------------------------


def provoke_serialization_failure(db: Database, user: Principal) -> OperationalError:
    """A genuine SQLSTATE 40001: update a row another transaction changed since our snapshot."""
    params = {"id": user.user_id}
    with db.engine.connect() as late, db.engine.connect() as early:
        late = late.execution_options(isolation_level="REPEATABLE READ")
        late.execute(text("SELECT full_name FROM users WHERE id = :id"), params)  # snapshot taken
        early.execute(text("UPDATE users SET full_name = 'Changed Early' WHERE id = :id"), params)
        early.commit()
        with pytest.raises(OperationalError) as caught:
            late.execute(text("UPDATE users SET full_name = 'Changed Late' WHERE id = :id"), params)
        late.rollback()
    return caught.value


def provoke_sqlite_lock_timeout(db: Database) -> OperationalError:
    """A genuine `database is locked`: another connection holds the write lock past our timeout."""
    path = db.url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    impatient = create_engine(db.url, connect_args={"timeout": 0})
    try:
        holder.execute("BEGIN IMMEDIATE")
        with impatient.connect() as connection, pytest.raises(OperationalError) as caught:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()
    return caught.value


@pytest.fixture
def lost_race(db: Database, make_principal: MakePrincipal) -> OperationalError:
    """The error each backend raises when a transaction loses a race, provoked for real."""
    if db.is_sqlite:
        error = provoke_sqlite_lock_timeout(db)
        assert "database is locked" in str(error.orig)
    else:
        error = provoke_serialization_failure(db, make_principal("racer@example.com"))
        assert getattr(error.orig, "sqlstate", None) == "40001"
    return error


class Flaky:
    """Raises `error` on its first `failures` calls, then does nothing."""

    def __init__(self, error: BaseException, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    def __call__(self, _session: Session) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


def test_a_lost_race_is_recognised_as_retryable(lost_race: OperationalError) -> None:
    assert is_retryable(lost_race)


def test_ordinary_database_errors_are_not_retryable(db: Database, alice: Principal) -> None:
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text("UPDATE users SET role = 'superuser' WHERE email = :email"), {"email": alice.email}
        )
    assert not is_retryable(caught.value)


def test_a_unique_violation_is_named_on_both_backends_and_is_a_lost_race(
    db: Database, alice: Principal, bob: Principal
) -> None:
    """A unique key taken between a check and a write: the rerun's check gives the refusal."""
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text("UPDATE users SET email = :taken WHERE email = :email"),
            {"taken": alice.email, "email": bob.email},
        )
    expected = "users.email" if db.is_sqlite else "ix_users_email"
    assert (unique_violation(caught.value), is_lost_race(caught.value)) == (expected, True)
    assert not is_retryable(caught.value)


def test_a_check_violation_is_no_lost_race(db: Database, alice: Principal) -> None:
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text("UPDATE users SET role = 'superuser' WHERE email = :email"), {"email": alice.email}
        )
    assert (unique_violation(caught.value), is_lost_race(caught.value)) == (None, False)


def test_the_database_runs_work_again_until_it_wins_its_race(
    db: Database, settings: Settings, lost_race: OperationalError
) -> None:
    flaky = Flaky(lost_race, failures=3)

    def work(session: Session) -> str:
        # Writes before failing: each failed attempt must leave nothing behind.
        identity_service.create_user(session, settings, "retried@example.com", "Retried", DEFAULT_PASSWORD)
        flaky(session)
        return "done"

    assert db.run(work, retries=5) == "done"
    assert flaky.calls == 4
    assert count(db, "users", "email = 'retried@example.com'") == 1


def test_the_database_gives_up_after_its_retry_bound(db: Database, lost_race: OperationalError) -> None:
    flaky = Flaky(lost_race, failures=1_000)

    with pytest.raises(OperationalError) as caught:
        db.run(flaky, retries=3)

    assert caught.value is lost_race
    assert flaky.calls == 4  # the first attempt and three retries


def test_the_database_does_not_retry_errors_that_are_not_races(db: Database) -> None:
    flaky = Flaky(ValueError("a bug, not a race"), failures=1_000)

    with pytest.raises(ValueError, match="a bug"):
        db.run(flaky, retries=5)

    assert flaky.calls == 1


def test_the_engine_reruns_a_batch_that_lost_a_race_and_moves_money_once(
    db: Database, fund: Fund, alice: Principal, bob: Principal, lost_race: OperationalError
) -> None:
    fund(alice, 1_000)
    flaky = Flaky(lost_race, failures=2)
    movement = dataclasses.replace(send(alice, bob.email, 100), precheck=flaky)

    [result] = engine.execute(db, [movement], retries=3)

    assert (type(result), result.replayed) == (Moved, False)
    assert flaky.calls == 3
    assert (balance(db, alice), balance(db, bob)) == (900, 100)
    assert count(db, "transfers", "kind = 'transfer'") == 1


def test_the_engine_gives_up_after_its_retry_bound_and_leaves_no_trace(
    db: Database, fund: Fund, alice: Principal, bob: Principal, lost_race: OperationalError
) -> None:
    fund(alice, 1_000)
    before = row_counts(db)
    movement = send(alice, bob.email, 100, key="unlucky")
    flaky = Flaky(lost_race, failures=1_000)

    with pytest.raises(OperationalError):
        engine.execute(db, [dataclasses.replace(movement, precheck=flaky)], retries=2)

    assert flaky.calls == 3
    assert row_counts(db) == before
    assert balance(db, alice) == 1_000
    # The key was not burned by the failed attempts: the client's retry goes through once.
    [result] = engine.execute(db, [movement])
    assert (type(result), result.replayed) == (Moved, False)
    assert (balance(db, alice), balance(db, bob)) == (900, 100)


def test_a_real_postgres_deadlock_is_retryable(postgres_db: Database) -> None:
    """Two transactions taking two row locks in opposite order: Postgres kills one of them."""
    rows = {"first": uuid.uuid4(), "second": uuid.uuid4()}
    with postgres_db.engine.begin() as connection:
        for name, row_id in rows.items():
            connection.execute(
                text(
                    "INSERT INTO outbox (id, event_type, aggregate_key, payload, created_at) "
                    "VALUES (:id, 'test.lock', :name, '{}', now())"
                ),
                {"id": row_id, "name": name},
            )
    lock_row = text("SELECT id FROM outbox WHERE id = :id FOR UPDATE")
    both_hold_one_lock = threading.Barrier(2, timeout=10)
    errors: list[DBAPIError] = []

    def lock_in_order(first: uuid.UUID, second: uuid.UUID) -> None:
        with postgres_db.engine.connect() as connection:
            connection.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
            connection.execute(lock_row, {"id": first})
            both_hold_one_lock.wait()
            try:
                connection.execute(lock_row, {"id": second})
            except DBAPIError as error:
                errors.append(error)
            connection.rollback()

    threads = [
        threading.Thread(target=lock_in_order, args=(rows["first"], rows["second"])),
        threading.Thread(target=lock_in_order, args=(rows["second"], rows["first"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(errors) == 1, errors
    assert getattr(errors[0].orig, "sqlstate", None) == "40P01"
    assert is_retryable(errors[0])


# --- the database twins of the ledger invariants ---------------------------------------------


def sql_uuid(db: Database, value: uuid.UUID) -> str:
    """How a UUID is spelled in raw SQL parameters on each backend (SQLite stores 32 hex digits)."""
    return value.hex if db.is_sqlite else str(value)


def violated_constraint(error: IntegrityError) -> str:
    diag = getattr(error.orig, "diag", None)
    if diag is not None:
        return str(diag.constraint_name)
    message = str(error.orig)
    assert message.startswith("CHECK constraint failed: "), message
    return message.removeprefix("CHECK constraint failed: ")


@pytest.fixture
def two_wallets(db: Database, fund: Fund, alice: Principal, bob: Principal) -> tuple[str, str]:
    """Raw-SQL ids of alice's funded USD wallet and bob's USD wallet."""
    fund(alice, 1_000)
    fund(bob, 1)
    return sql_uuid(db, wallet_id(db, alice)), sql_uuid(db, wallet_id(db, bob))


INSERT_TRANSFER = (
    "INSERT INTO transfers (id, kind, amount, currency, from_wallet_id, to_wallet_id, created_at) "
    "VALUES (:id, 'transfer', :amount, 'USD', :source, :destination, CURRENT_TIMESTAMP)"
)
INSERT_ENTRY = (
    "INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at) "
    "VALUES (:id, :transfer_id, :wallet_id, :amount, 'USD', CURRENT_TIMESTAMP)"
)


def new_id(db: Database) -> str:
    return sql_uuid(db, uuid.uuid4())


@pytest.mark.parametrize("amount", [0, -5])
def test_the_database_refuses_a_transfer_that_is_not_positive(
    db: Database, two_wallets: tuple[str, str], amount: int
) -> None:
    source, destination = two_wallets
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text(INSERT_TRANSFER),
            {"id": new_id(db), "amount": amount, "source": source, "destination": destination},
        )
    assert violated_constraint(caught.value) == "ck_transfers_amount_positive"
    assert count(db, "transfers", "amount <= 0") == 0


def test_the_database_refuses_a_transfer_from_a_wallet_to_itself(
    db: Database, two_wallets: tuple[str, str]
) -> None:
    source, _ = two_wallets
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text(INSERT_TRANSFER), {"id": new_id(db), "amount": 10, "source": source, "destination": source}
        )
    assert violated_constraint(caught.value) == "ck_transfers_distinct_wallets"


def test_the_database_refuses_a_negative_user_wallet_balance(
    db: Database, two_wallets: tuple[str, str], alice: Principal
) -> None:
    source, _ = two_wallets
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(text("UPDATE wallets SET balance = -1 WHERE id = :id"), {"id": source})
    assert violated_constraint(caught.value) == "ck_wallets_user_balance_non_negative"
    assert balance(db, alice) == 1_000


def test_the_database_refuses_to_close_a_wallet_that_holds_money(
    db: Database, two_wallets: tuple[str, str], alice: Principal
) -> None:
    source, _ = two_wallets
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text("UPDATE wallets SET closed_at = CURRENT_TIMESTAMP WHERE id = :id"), {"id": source}
        )
    assert violated_constraint(caught.value) == "ck_wallets_closed_is_empty"
    assert balance(db, alice) == 1_000


def test_the_database_refuses_money_in_a_closed_wallet(db: Database, alice: Principal) -> None:
    empty = db.run(lambda s: wallet_service.open_wallet(s, alice.user_id, "EUR"))
    db.run(lambda s: wallet_service.close_wallet(s, alice.user_id, "EUR"))
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text("UPDATE wallets SET balance = 5 WHERE id = :id"), {"id": sql_uuid(db, empty.id)}
        )
    assert violated_constraint(caught.value) == "ck_wallets_closed_is_empty"
    assert count(db, "wallets", "closed_at IS NOT NULL AND balance <> 0") == 0


def test_the_system_wallet_may_go_negative_it_stands_for_the_outside_world(
    db: Database, two_wallets: tuple[str, str]
) -> None:
    with db.engine.connect() as connection:
        system_balance = connection.execute(
            text("SELECT balance FROM wallets WHERE kind = 'system' AND currency = 'USD'")
        ).scalar_one()
    assert system_balance == -1_001


def test_the_database_refuses_a_zero_entry(db: Database, two_wallets: tuple[str, str]) -> None:
    source, destination = two_wallets
    transfer_id = new_id(db)
    with db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(
            text(INSERT_TRANSFER),
            {"id": transfer_id, "amount": 10, "source": source, "destination": destination},
        )
        connection.execute(
            text(INSERT_ENTRY),
            {"id": new_id(db), "transfer_id": transfer_id, "wallet_id": source, "amount": 0},
        )
    assert violated_constraint(caught.value) == "ck_entries_amount_nonzero"


@pytest.fixture
def postgres_ledger(postgres_db: Database, tmp_path: Path) -> dict[str, uuid.UUID]:
    """On Postgres alone: one real transfer alice -> bob of 100 USD, made by the engine."""
    settings = settings_for(postgres_db.url, tmp_path)
    operator_ = create_principal(postgres_db, settings, "operator@example.com", Role.ADMIN)
    alice_ = create_principal(postgres_db, settings, "alice@example.com")
    bob_ = create_principal(postgres_db, settings, "bob@example.com")
    deposit(postgres_db, operator_, alice_, 1_000)
    [result] = engine.execute(postgres_db, [send(alice_, bob_.email, 100)])
    transfer = moved(result)
    return {
        "transfer": transfer.id,
        "alice_wallet": transfer.sender.wallet_id,
        "bob_wallet": transfer.recipient.wallet_id,
    }


def test_entries_that_do_not_sum_to_zero_are_refused_at_commit_by_a_trigger(
    postgres_db: Database, postgres_ledger: dict[str, uuid.UUID]
) -> None:
    before = row_counts(postgres_db)
    transfer_id = uuid.uuid4()
    lines = [(postgres_ledger["alice_wallet"], -100), (postgres_ledger["bob_wallet"], 50)]

    with postgres_db.engine.connect() as connection:
        connection.execute(
            text(INSERT_TRANSFER),
            {
                "id": transfer_id,
                "amount": 100,
                "source": postgres_ledger["alice_wallet"],
                "destination": postgres_ledger["bob_wallet"],
            },
        )
        for wallet_id, amount in lines:
            # Each line on its own is fine: the trigger is deferred to the end of the transaction.
            connection.execute(
                text(INSERT_ENTRY),
                {"id": uuid.uuid4(), "transfer_id": transfer_id, "wallet_id": wallet_id, "amount": amount},
            )
        with pytest.raises(IntegrityError) as caught:
            connection.commit()

    assert violated_constraint(caught.value) == "trg_entries_sum_to_zero"
    assert f"transfer {transfer_id} entries do not sum to zero" in str(caught.value.orig)
    assert row_counts(postgres_db) == before


def test_entries_that_sum_to_zero_pass_the_trigger(
    postgres_db: Database, postgres_ledger: dict[str, uuid.UUID]
) -> None:
    transfer_id = uuid.uuid4()
    with postgres_db.engine.begin() as connection:
        connection.execute(
            text(INSERT_TRANSFER),
            {
                "id": transfer_id,
                "amount": 100,
                "source": postgres_ledger["alice_wallet"],
                "destination": postgres_ledger["bob_wallet"],
            },
        )
        for wallet_id, amount in [
            (postgres_ledger["alice_wallet"], -100),
            (postgres_ledger["bob_wallet"], 100),
        ]:
            connection.execute(
                text(INSERT_ENTRY),
                {"id": uuid.uuid4(), "transfer_id": transfer_id, "wallet_id": wallet_id, "amount": amount},
            )

    assert count(postgres_db, "entries", "transfer_id = :id", id=transfer_id) == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transfers SET amount = amount + 1 WHERE id = :transfer",
        "UPDATE transfers SET memo = 'edited' WHERE id = :transfer",
        "DELETE FROM transfers WHERE id = :transfer",
        "UPDATE entries SET amount = amount * 2 WHERE transfer_id = :transfer",
        "DELETE FROM entries WHERE transfer_id = :transfer",
    ],
)
def test_ledger_history_cannot_be_edited_or_deleted(
    postgres_db: Database, postgres_ledger: dict[str, uuid.UUID], statement: str
) -> None:
    before = row_counts(postgres_db)
    with postgres_db.engine.connect() as connection, pytest.raises(IntegrityError) as caught:
        connection.execute(text(statement), {"transfer": postgres_ledger["transfer"]})

    assert getattr(caught.value.orig, "sqlstate", None) == "23001"  # restrict_violation
    table = statement.split()[1] if statement.startswith("UPDATE") else statement.split()[2]
    assert f"{table} rows are history: they are never updated or deleted" in str(caught.value.orig)
    assert row_counts(postgres_db) == before
    with postgres_db.engine.connect() as connection:
        amount, memo = connection.execute(
            text("SELECT amount, memo FROM transfers WHERE id = :id"), {"id": postgres_ledger["transfer"]}
        ).one()
    assert (amount, memo) == (100, None)
