"""Holds under concurrency, on both backends: movements on one hold that together ask for
more than it has, each in its own transaction at the same moment, or side by side in one
batch of the coalescing writer. The payer wallet's row lock orders them: exactly one wins."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from sqlalchemy import text

from gopherpayd.identity.service import Principal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.transfers import engine, writer
from gopherpayd.transfers.holds import place_movement, settle_movement
from gopherpayd.transfers.movements import MoneyMovement
from gopherpayd.transfers.outcomes import HoldChanged, MovementOutcome, Refused
from gopherpayd.transfers.schemas import HoldRequestBody
from gopherpayd.vocabulary import HoldAction
from tests.transfers.helpers import Fund, MakePrincipal


def place_hold(db: Database, payer: Principal, payee: Principal, amount: int) -> uuid.UUID:
    body = HoldRequestBody(to=payee.email, amount=amount, currency="USD", expires_in=3600)
    [outcome] = engine.execute(db, [place_movement(payer, body, str(uuid.uuid4()), now=utcnow())])
    assert isinstance(outcome, HoldChanged), outcome
    return outcome.hold.id


def at_once(db: Database, movements: list[MoneyMovement]) -> list[MovementOutcome]:
    """Each movement in a transaction of its own, all started together."""
    start = threading.Barrier(len(movements))
    outcomes: list[MovementOutcome | None] = [None] * len(movements)

    def run(index: int) -> Callable[[], None]:
        def work() -> None:
            start.wait()
            outcomes[index] = engine.execute(db, [movements[index]])[0]

        return work

    threads = [threading.Thread(target=run(i)) for i in range(len(movements))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def in_one_batch(db: Database, movements: list[MoneyMovement]) -> list[MovementOutcome]:
    """The movements queued together on a writer: it takes them as one batch."""
    commits = writer.CoalescingWriter(db)
    futures = [commits.submit(movement) for movement in movements]
    return [future.result(timeout=60) for future in futures]


def codes(outcomes: list[MovementOutcome]) -> list[str]:
    return sorted("ok" if isinstance(o, HoldChanged) else o.refusal.code for o in outcomes)


def wallet_state(db: Database, principal: Principal) -> tuple[int, int]:
    """(balance, held) of the principal's USD wallet."""
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT balance, held FROM wallets WHERE owner_id = :owner AND currency = 'USD'"),
            {"owner": principal.user_id.hex if db.is_sqlite else principal.user_id},
        ).one()
    return int(row.balance), int(row.held)


def capture(principal: Principal, hold_id: uuid.UUID, amount: int) -> MoneyMovement:
    return settle_movement(
        principal, hold_id, HoldAction.CAPTURE, str(uuid.uuid4()), amount=amount, request={"amount": amount}
    )


def void(principal: Principal, hold_id: uuid.UUID) -> MoneyMovement:
    return settle_movement(principal, hold_id, HoldAction.VOID, str(uuid.uuid4()), request={})


def test_two_concurrent_captures_that_together_exceed_the_hold_one_succeeds(
    db: Database, make_principal: MakePrincipal, fund: Fund
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    hold_id = place_hold(db, alice, bob, 1_000)

    outcomes = at_once(db, [capture(alice, hold_id, 700), capture(alice, hold_id, 600)])

    assert codes(outcomes) == ["hold_amount_exceeded", "ok"]
    won = next(o for o in outcomes if isinstance(o, HoldChanged))
    assert won.hold.remaining == 1_000 - won.hold.captured
    assert wallet_state(db, alice) == (10_000 - won.hold.captured, 1_000 - won.hold.captured)
    assert wallet_state(db, bob) == (won.hold.captured, 0)


def test_two_captures_in_one_batch_that_exceed_the_hold_one_succeeds(
    db: Database, make_principal: MakePrincipal, fund: Fund
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    hold_id = place_hold(db, alice, bob, 1_000)

    outcomes = in_one_batch(db, [capture(alice, hold_id, 700), capture(alice, hold_id, 600)])

    assert [type(o) for o in outcomes] == [HoldChanged, Refused]
    assert wallet_state(db, alice) == (9_300, 300)
    assert wallet_state(db, bob) == (700, 0)


def test_a_capture_racing_a_void_exactly_one_wins(
    db: Database, make_principal: MakePrincipal, fund: Fund
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    hold_id = place_hold(db, alice, bob, 1_000)

    outcomes = at_once(db, [capture(alice, hold_id, 1_000), void(alice, hold_id)])

    assert codes(outcomes) == ["hold_not_open", "ok"]
    won = next(o for o in outcomes if isinstance(o, HoldChanged))
    if won.hold.status == "captured":
        assert (wallet_state(db, alice), wallet_state(db, bob)) == ((9_000, 0), (1_000, 0))
    else:
        assert won.hold.status == "voided"
        assert (wallet_state(db, alice), wallet_state(db, bob)) == ((10_000, 0), (0, 0))


def test_a_partial_capture_racing_a_void_in_one_batch_settles_the_hold_once(
    db: Database, make_principal: MakePrincipal, fund: Fund
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    hold_id = place_hold(db, alice, bob, 1_000)

    void_first = in_one_batch(db, [void(alice, hold_id), capture(alice, hold_id, 400)])

    assert codes(void_first) == ["hold_not_open", "ok"]
    assert (wallet_state(db, alice), wallet_state(db, bob)) == ((10_000, 0), (0, 0))


def test_many_captures_at_once_never_take_more_than_the_hold(
    db: Database, make_principal: MakePrincipal, fund: Fund
) -> None:
    alice, bob = make_principal("alice@example.com"), make_principal("bob@example.com")
    fund(alice, 10_000)
    hold_id = place_hold(db, alice, bob, 1_000)

    outcomes = at_once(db, [capture(alice, hold_id, 300) for _ in range(5)])

    assert codes(outcomes) == ["hold_amount_exceeded"] * 2 + ["ok"] * 3
    assert wallet_state(db, alice) == (9_100, 100)
    assert wallet_state(db, bob) == (900, 0)
