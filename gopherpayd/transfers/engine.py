"""The transfer engine: a batch of money movements in, one result per movement out.

One database transaction carries the whole batch, and the batch costs a handful of
statements whatever its size:

1. the idempotency records of the batch's keys, in one query;
2. what the movements' selectors read (users, their open wallets, system wallets), in a
   few queries for the whole batch (`reads.BatchReads`);
3. every wallet the batch touches, locked in ascending id order in one statement, so
   batches moving money in opposite directions, in this process or another, cannot
   deadlock;
4. the rules, checked in Python against the locked balances, movement after movement:
   a refused movement changes nothing and is answered with its refusal; a wallet that
   many movements touch (a hot wallet) is changed in memory each time;
5. the writes, one statement per table: new wallets, transfers, entries, one balance
   update for all touched wallets, the users' event numbers, the outbox events, the audit
   notes, the idempotency records, and one NOTIFY.

A deadlock or serialization failure that happens anyway reruns the batch a bounded
number of times, and so does a lost race on a unique index (two reversals of one
transfer, two openers of one wallet, two batches with one idempotency key) or on a
wallet closed while the batch waited for its lock: the rerun reads afresh and answers
as if the two had run one after the other. The database's own twins of the invariants
(CHECK constraints, the deferred sum-to-zero trigger) stay on: a batch they reject fails
as a whole, and the writer splits it until the movement at fault is alone.

What a movement asks for is in `movements`, the invariants the engine checks in
`ledger_rules`, the batch's in-memory state and the steps every movement shares in
`batch_state`; hold operations are worked out in `hold_moves`, FX executions in `fx_moves`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel import Session

from gopherpayd.audit import service as audit_log
from gopherpayd.fx import repository as fx_repository
from gopherpayd.identity import repository as identity_repository
from gopherpayd.identity.errors import AccountFrozen
from gopherpayd.identity.service import session_refusal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database, is_lost_race
from gopherpayd.kit.errors import AppError
from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import idempotency, repository
from gopherpayd.transfers.batch_state import (
    LockedWallet,
    Pending,
    Writes,
    funds,
    materialize,
    post_transfer,
    refuse_frozen,
    refuse_overflow,
)
from gopherpayd.transfers.errors import (
    AlreadyReversed,
    CurrencyMismatch,
    IdempotencyKeyReused,
    InsufficientFunds,
    LinkedFailed,
    RecipientFrozen,
)
from gopherpayd.transfers.fx_moves import fx_wallets, move_fx
from gopherpayd.transfers.hold_moves import move_hold
from gopherpayd.transfers.hold_rules import HoldOp
from gopherpayd.transfers.ledger_rules import (
    check_amount_in_range,
    check_distinct_wallets,
    check_not_reversed_yet,
    check_wallet_open,
)
from gopherpayd.transfers.movements import IdempotencyClaim, MoneyMovement, WalletTarget
from gopherpayd.transfers.outcomes import HoldChanged, Moved, MovementOutcome, Refused
from gopherpayd.transfers.reads import BatchReads, WalletRow
from gopherpayd.transfers.repository import StoredAnswer
from gopherpayd.transfers.schemas import TransferOut
from gopherpayd.vocabulary import HoldAction, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets.currencies import format_minor
from gopherpayd.wallets.errors import WalletClosed


def execute(
    db: Database,
    movements: list[MoneyMovement],
    *,
    retries: int = 8,
    atomic: bool = False,
    dry_run: bool = False,
) -> list[MovementOutcome]:
    """Run a batch in one transaction; rerun it when it loses a race to another one.

    Losing a race on a unique index (the idempotency key, a wallet being opened, the one
    reversal a transfer may have) means the winner has committed: on the rerun the loser
    replays the key, uses the wallet, or is refused `already_reversed` by its precheck.

    `atomic`: all or nothing. When any movement is refused (a stored refusal replayed
    counts), nothing is written, not even an idempotency record: the first refused
    movement gets its refusal and every other one `linked_failed`. A rerun of the same
    batch is evaluated afresh.

    `dry_run`: every check runs as for real, under the same locks, and each movement gets the
    outcome it would get now, but nothing is written (no transfer, no idempotency record). Run
    it in its own transaction (here, not through the coalescing writer): a preview must never
    share a commit with real movements. A `Moved` outcome's transfer id is never stored.
    """
    return db.run(
        partial(_apply_batch, movements=movements, atomic=atomic, dry_run=dry_run),
        retries=retries,
        retry_on=is_lost_race,
    )


def _fail_together(results: list[MovementOutcome]) -> list[MovementOutcome] | None:
    """The outcomes of an atomic batch that cannot commit, or None when every item moved."""
    culprit = next((i for i, result in enumerate(results) if isinstance(result, Refused)), None)
    if culprit is None:
        return None
    return [
        result
        if i == culprit
        else Refused(LinkedFailed(f"nothing moved: item {culprit} of this atomic batch was refused"))
        for i, result in enumerate(results)
    ]


def _apply_batch(
    session: Session, movements: list[MoneyMovement], atomic: bool = False, dry_run: bool = False
) -> list[MovementOutcome]:
    live_sessions = identity_repository.get_live_sessions(
        session, (m.session.session_id for m in movements if m.session is not None)
    )
    claims = [m.idempotency for m in movements if m.idempotency is not None]
    stored = repository.get_idempotency_records(session, [(c.scope, c.key) for c in claims])
    reads = BatchReads(session)
    reads.prefetch(m.reads for m in movements)

    results: list[MovementOutcome | None] = [None] * len(movements)
    first_with_key: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, int]] = []
    """(index, index of the earlier movement of this batch with the same key)."""
    pending: list[Pending] = []
    for index, movement in enumerate(movements):
        if (guard := movement.session) is not None:
            refusal = session_refusal(live_sessions.get(guard.session_id), guard.user_id)
            if refusal is not None:  # before its key: an unauthenticated call stores nothing
                results[index] = Refused(refusal)
                continue
        claim = movement.idempotency
        if claim is not None:
            scope_key = (claim.scope, claim.key)
            if scope_key in first_with_key:
                repeats.append((index, first_with_key[scope_key]))
                continue
            if (record := stored.get(scope_key)) is not None:
                results[index] = _replay(record, claim, hold=movement.hold is not None)
                continue
            first_with_key[scope_key] = index
        try:
            source, destination = _resolve(session, reads, movement)
        except AppError as refusal:
            results[index] = Refused(refusal)
            continue
        house = fx_wallets(reads, movement.currency, movement.fx) if movement.fx is not None else ()
        pending.append(Pending(index, movement, source, destination, house))

    locked = _lock(
        session, [t.wallet for p in pending for t in (p.source, p.destination, *p.house) if t.wallet]
    )
    frozen = identity_repository.lock_users_frozen(session, _guarded_owners(pending))
    writes = Writes(now=utcnow())
    writes.holds = repository.read_holds(
        session, [p.movement.hold.hold_id for p in pending if p.movement.hold is not None]
    )
    writes.quotes = fx_repository.lock_quotes(
        session, [p.movement.fx.id for p in pending if p.movement.fx is not None]
    )
    for item in pending:
        try:
            _check_owners_not_frozen(item, frozen)
            if item.movement.hold is not None:
                results[item.index] = HoldChanged(move_hold(reads, writes, item, locked))
            elif item.movement.fx is not None:
                results[item.index] = Moved(move_fx(reads, writes, item, locked))
            else:
                results[item.index] = Moved(_move(session, reads, writes, item, locked))
        except AppError as refusal:
            results[item.index] = Refused(refusal)

    records: dict[int, dict[str, Any]] = {}
    for index in first_with_key.values():  # the keys this batch answers first
        outcome, claim = results[index], movements[index].idempotency
        assert outcome is not None and claim is not None
        records[index] = _record(claim, outcome, writes.now)
        results[index] = dataclasses.replace(outcome, encoded=records[index]["response_body"])
    for index, first in repeats:
        claim = movements[index].idempotency
        assert claim is not None
        first_answer = records[first]
        results[index] = _replay(
            StoredAnswer(
                first_answer["request_hash"], first_answer["status_code"], first_answer["response_body"]
            ),
            claim,
            hold=movements[index].hold is not None,
        )
    outcomes = [result for result in results if result is not None]
    assert len(outcomes) == len(movements)
    if atomic and (failed := _fail_together(outcomes)) is not None:
        return failed  # nothing written: the transaction ends with only reads and locks behind it
    if dry_run:
        return outcomes  # checked under the locks; nothing written, as for an atomic failure
    _write(session, writes, locked, list(records.values()))
    return outcomes


def _lock(session: Session, wallets: Iterable[WalletRow]) -> dict[uuid.UUID, LockedWallet]:
    """Every wallet the batch touches, read afresh under row locks taken in id order."""
    known = {wallet.id: wallet for wallet in wallets}
    fresh = wallet_repository.lock_rows_in_id_order(session, known)
    locked = {}
    for row in fresh:
        wallet = known[row.id]
        locked[row.id] = LockedWallet(
            id=row.id,
            owner_id=wallet.owner_id,
            currency=wallet.currency,
            kind=wallet.kind,
            balance=int(row.balance),
            frozen=bool(row.frozen),
            closed_at=row.closed_at,
            start_balance=int(row.balance),
            held=int(row.held),
            start_held=int(row.held),
        )
    return locked


def _guarded_owners(pending: list[Pending]) -> list[uuid.UUID]:
    owners = []
    for item in pending:
        for target in (item.source, item.destination):
            owner = target.wallet.owner_id if target.wallet is not None else target.open_for_owner
            if target.refuse_frozen_owner and owner is not None:
                owners.append(owner)
    return owners


def _check_owners_not_frozen(item: Pending, frozen: dict[uuid.UUID, bool]) -> None:
    """The selectors' frozen checks, again, on the owners' rows as locked by this batch."""
    for target, refusal in (
        (item.source, lambda label: AccountFrozen(f"account {label} is frozen; no money can leave it")),
        (
            item.destination,
            lambda label: RecipientFrozen(f"account {label} is frozen and cannot receive money"),
        ),
    ):
        owner = target.wallet.owner_id if target.wallet is not None else target.open_for_owner
        if target.refuse_frozen_owner and owner is not None and frozen.get(owner, False):
            raise refusal(target.owner_label)


def _replay(stored: StoredAnswer, claim: IdempotencyClaim, *, hold: bool = False) -> MovementOutcome:
    if stored.request_hash != claim.request_hash:
        return Refused(
            IdempotencyKeyReused(
                f"idempotency key {claim.key!r} was already used for a different request; "
                "use a new key for a new request"
            )
        )
    return idempotency.decode(stored.status_code, stored.response_body, hold=hold)


def _record(claim: IdempotencyClaim, outcome: MovementOutcome, now: datetime) -> dict[str, Any]:
    status_code, response_body = idempotency.encode(outcome, request_id=claim.request_id)
    return {
        "id": uuid.uuid4(),
        "scope": claim.scope,
        "key": claim.key,
        "request_hash": claim.request_hash,
        "status_code": status_code,
        "response_body": response_body,
        "created_at": now,
    }


def _resolve(
    session: Session, reads: BatchReads, movement: MoneyMovement
) -> tuple[WalletTarget, WalletTarget]:
    if movement.hold is None or movement.hold.action is HoldAction.PLACE:
        check_amount_in_range(movement.amount)
    if movement.precheck is not None:
        movement.precheck(session)
    source = movement.source(reads)
    destination = movement.destination(reads)
    if movement.hold is not None and movement.hold.action is not HoldAction.PLACE:
        return _resolve_hold(movement, movement.hold, source, destination)
    for target in (source, destination):
        expected = movement.fx.buy_currency if movement.fx and target is destination else movement.currency
        if target.currency != expected:
            raise CurrencyMismatch(f"wallet holds {target.currency}, the transfer is in {expected}")
        if target.wallet is not None and target.wallet.closed_at is not None:
            raise WalletClosed(f"wallet {target.wallet.id} is closed; it can neither send nor receive")
    if source.owner_frozen:
        raise AccountFrozen(f"account {source.owner_label} is frozen; no money can leave it")
    check_distinct_wallets(source.wallet, destination.wallet)
    return source, destination


def _resolve_hold(
    movement: MoneyMovement, op: HoldOp, source: WalletTarget, destination: WalletTarget
) -> tuple[WalletTarget, WalletTarget]:
    """An operation on an existing hold: only a capture needs the payee's wallet open (and
    an amount when it does not take everything left); releases touch the payer's wallet only."""
    if op.action is not HoldAction.CAPTURE:
        return source, source
    if not op.capture_all:
        check_amount_in_range(movement.amount)
    for target in (source, destination):
        if target.wallet is not None and target.wallet.closed_at is not None:
            raise WalletClosed(f"wallet {target.wallet.id} is closed; it can neither send nor receive")
    if source.owner_frozen:
        raise AccountFrozen(f"account {source.owner_label} is frozen; no money can leave it")
    return source, destination


def _move(
    session: Session,
    reads: BatchReads,
    writes: Writes,
    item: Pending,
    locked: dict[uuid.UUID, LockedWallet],
) -> TransferOut:
    """Check one movement against the locked balances; if it may move, record its rows."""
    movement = item.movement
    source = materialize(item.source, locked, writes)
    destination = materialize(item.destination, locked, writes)
    for wallet in (source, destination):
        check_wallet_open(wallet)
    if movement.reverses_transfer_id is not None:
        if movement.reverses_transfer_id in writes.reversed:
            raise AlreadyReversed(f"transfer {movement.reverses_transfer_id} is being reversed in this batch")
        check_not_reversed_yet(session, movement.reverses_transfer_id)
    refuse_frozen(source, destination)
    if source.kind == WalletKind.USER and source.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {source.id} has {funds(source)}, "
            f"transfer needs {format_minor(movement.amount, movement.currency)}"
        )
    refuse_overflow(source, destination, movement.amount, movement.currency)
    # Every rule holds: from here on the movement happens.
    for wallet in (source, destination):
        if wallet.opened:
            writes.opened[(wallet.kind, wallet.owner_id, wallet.currency)] = wallet
            locked[wallet.id] = wallet
    if movement.reverses_transfer_id is not None:
        writes.reversed.add(movement.reverses_transfer_id)
    body = post_transfer(reads, writes, movement, movement.amount, source, destination)
    if movement.audit is not None:
        writes.audit_notes.append(movement.audit)
    return body


def _write(
    session: Session, writes: Writes, locked: dict[uuid.UUID, LockedWallet], records: list[dict[str, Any]]
) -> None:
    """The batch's rows, one statement per table (new wallets first: the rest refers to them)."""
    wallet_repository.insert_opened(
        session,
        [
            {
                "id": w.id,
                "owner_id": w.owner_id,
                "currency": w.currency,
                "kind": w.kind,
                "balance": w.balance,
                "held": w.held,
                "frozen": False,
                "created_at": writes.now,
                "closed_at": None,
            }
            for w in writes.opened.values()
        ],
    )
    repository.insert_transfers(session, writes.transfers, writes.entries)
    fx_repository.mark_quotes_used(session, writes.used_quotes, writes.now)
    wallet_repository.set_balances(
        session,
        {w.id: w.balance for w in locked.values() if not w.opened and w.balance != w.start_balance},
        {w.id: w.held for w in locked.values() if not w.opened and w.held != w.start_held},
    )
    repository.insert_holds(session, [h.as_row() for h in writes.holds.values() if h.new])
    repository.update_holds(session, [h.as_row() for h in writes.holds.values() if h.changed and not h.new])
    outbox.emit_many(session, writes.announcements)
    for note in writes.audit_notes:
        audit_log.record(session, note)
    repository.insert_idempotency_records(session, records)
