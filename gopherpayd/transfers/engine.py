"""The transfer engine: a batch of money movements in, one result per movement out.

One database transaction carries the whole batch. For each movement it writes
the transfer, its two entries, both balance changes, the outbox events and the
idempotency record; a refused movement leaves nothing behind but its refusal,
remembered under its idempotency key. Wallets are locked once for the batch, in
ascending id order, so batches moving money in opposite directions cannot
deadlock; a deadlock or serialization failure that happens anyway reruns the
batch a bounded number of times, and so does a lost race on a unique index (two
reversals of one transfer, two openers of one wallet) or on a wallet closed while
the batch waited for its lock: the rerun reads afresh and answers as if the two had
run one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlmodel import Session

from gopherpayd.audit import service as audit_log
from gopherpayd.identity.errors import AccountFrozen
from gopherpayd.kit.db import Database, LostRace, is_lost_race
from gopherpayd.kit.errors import AppError
from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import idempotency, repository, views
from gopherpayd.transfers.errors import (
    AlreadyReversed,
    CurrencyMismatch,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    LinkedFailed,
    SelfTransfer,
)
from gopherpayd.transfers.models import IDEMPOTENCY_CLAIMED, Entry, IdempotencyRecord, Transfer
from gopherpayd.transfers.outcomes import Moved, MovementOutcome, Refused
from gopherpayd.transfers.schemas import TransferOut
from gopherpayd.vocabulary import EventType, TransferKind, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets.currencies import format_minor
from gopherpayd.wallets.errors import WalletClosed, WalletFrozen
from gopherpayd.wallets.models import Wallet

MAX_AMOUNT_MINOR = 2**63 - 1
"""The largest amount a BIGINT holds."""


@dataclass(frozen=True)
class WalletTarget:
    """Where money goes or comes from: an existing wallet, or one to open under the lock."""

    wallet: Wallet | None = None
    open_for_owner: uuid.UUID | None = None
    open_system: bool = False
    currency: str = ""
    owner_frozen: bool = False
    owner_label: str = ""


Selector = Callable[[Session], WalletTarget]


@dataclass(frozen=True)
class IdempotencyClaim:
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class MoneyMovement:
    kind: TransferKind
    amount: int
    """Minor units of `currency`, > 0."""
    currency: str
    source: Selector
    destination: Selector
    initiated_by: uuid.UUID
    memo: str | None = None
    idempotency: IdempotencyClaim | None = None
    reverses_transfer_id: uuid.UUID | None = None
    audit: audit_log.AuditNote | None = None
    precheck: Callable[[Session], None] | None = None
    """Rules that need the database before any wallet is touched (e.g. not reversed yet)."""


def execute(
    db: Database, movements: list[MoneyMovement], *, retries: int = 8, atomic: bool = False
) -> list[MovementOutcome]:
    """Run a batch in one transaction; rerun it when it loses a race to another one.

    Losing a race on a unique index (the idempotency key, a wallet being opened, the one
    reversal a transfer may have) means the winner has committed: on the rerun the loser
    replays the key, uses the wallet, or is refused `already_reversed` by its precheck.

    `atomic`: all or nothing. When any movement is refused (a stored refusal replayed
    counts), the transaction is rolled back, so nothing is written, not even an
    idempotency record: the first refused movement gets its refusal and every other one
    `linked_failed`. A rerun of the same batch is evaluated afresh.
    """
    try:
        return db.run(
            partial(_apply_batch, movements=movements, atomic=atomic), retries=retries, retry_on=is_lost_race
        )
    except _AtomicBatchFailed as failed:
        return failed.outcomes


class _AtomicBatchFailed(Exception):
    """Raised inside the transaction to roll an atomic batch back, carrying its outcomes."""

    def __init__(self, outcomes: list[MovementOutcome]) -> None:
        super().__init__("an item of an atomic batch was refused")
        self.outcomes = outcomes


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


@dataclass
class _Pending:
    index: int
    movement: MoneyMovement
    record: IdempotencyRecord | None
    source: WalletTarget
    destination: WalletTarget


def _apply_batch(
    session: Session, movements: list[MoneyMovement], atomic: bool = False
) -> list[MovementOutcome]:
    results: list[MovementOutcome | None] = [None] * len(movements)
    pending: list[_Pending] = []
    # Keys claimed by an earlier movement of this batch: their outcome is known only at the end.
    repeats: list[tuple[int, IdempotencyRecord, IdempotencyClaim]] = []
    for index, movement in enumerate(movements):
        record: IdempotencyRecord | None = None
        if movement.idempotency is not None:
            stored = repository.get_idempotency_record(
                session, movement.idempotency.scope, movement.idempotency.key
            )
            if stored is not None and stored.status_code == IDEMPOTENCY_CLAIMED:
                repeats.append((index, stored, movement.idempotency))
                continue
            if stored is not None:
                results[index] = _replay(stored, movement.idempotency)
                continue
            record = _claim_key(session, movement.idempotency)
        try:
            with session.begin_nested():
                source, destination = _resolve(session, movement)
        except AppError as refusal:
            results[index] = _refuse(session, record, refusal)
            continue
        pending.append(_Pending(index, movement, record, source, destination))

    locked = wallet_repository.lock_in_id_order(
        session,
        [t.wallet.id for p in pending for t in (p.source, p.destination) if t.wallet is not None],
    )
    for item in pending:
        try:
            with session.begin_nested():
                transfer, debited, credited = _move(session, item, locked)
                body = views.describe(session, [transfer], item.movement.initiated_by)[0]
                _announce(session, body, debited.balance, credited.balance)
                if item.movement.audit is not None:
                    audit_log.record(session, item.movement.audit)
                result: MovementOutcome = Moved(body)
                _settle(session, item.record, result)
        except AppError as refusal:
            result = _refuse(session, item.record, refusal)
        results[item.index] = result
    for index, stored, claim in repeats:
        results[index] = _replay(stored, claim)
    outcomes = [result for result in results if result is not None]
    if atomic and (failed := _fail_together(outcomes)) is not None:
        raise _AtomicBatchFailed(failed)
    return outcomes


def _claim_key(session: Session, claim: IdempotencyClaim) -> IdempotencyRecord:
    """Insert the key first: a concurrent request with the same key waits on it here."""
    record = IdempotencyRecord(
        scope=claim.scope,
        key=claim.key,
        request_hash=claim.request_hash,
        status_code=IDEMPOTENCY_CLAIMED,
        response_body="",
    )
    repository.add(session, record)
    repository.flush(session)
    return record


def _replay(stored: IdempotencyRecord, claim: IdempotencyClaim) -> MovementOutcome:
    if stored.request_hash != claim.request_hash:
        return Refused(
            IdempotencyKeyReused(
                f"idempotency key {claim.key!r} was already used for a different request; "
                "use a new key for a new request"
            )
        )
    return idempotency.replay(stored)


def _settle(session: Session, record: IdempotencyRecord | None, outcome: MovementOutcome) -> None:
    if record is not None:
        idempotency.remember(record, outcome)
        repository.add(session, record)
        repository.flush(session)


def _refuse(session: Session, record: IdempotencyRecord | None, refusal: AppError) -> MovementOutcome:
    outcome = Refused(refusal)
    _settle(session, record, outcome)
    return outcome


def _resolve(session: Session, movement: MoneyMovement) -> tuple[WalletTarget, WalletTarget]:
    check_amount_in_range(movement.amount)
    if movement.precheck is not None:
        movement.precheck(session)
    source = movement.source(session)
    destination = movement.destination(session)
    for target in (source, destination):
        if target.currency != movement.currency:
            raise CurrencyMismatch(f"wallet holds {target.currency}, the transfer is in {movement.currency}")
        if target.wallet is not None and target.wallet.closed_at is not None:
            raise WalletClosed(f"wallet {target.wallet.id} is closed; it can neither send nor receive")
    if source.owner_frozen:
        raise AccountFrozen(f"account {source.owner_label} is frozen; no money can leave it")
    check_distinct_wallets(source.wallet, destination.wallet)
    return source, destination


def _materialize(session: Session, target: WalletTarget, locked: dict[uuid.UUID, Wallet]) -> Wallet:
    if target.wallet is not None:
        return locked[target.wallet.id]
    owner_id = None if target.open_system else target.open_for_owner
    for wallet in locked.values():
        # Opened by an earlier movement of this batch (and not rolled back with its refusal).
        if (
            wallet in session
            and wallet.closed_at is None
            and (wallet.owner_id, wallet.currency) == (owner_id, target.currency)
        ):
            return wallet
    # A wallet nobody else can see yet needs no lock; a concurrent opener of the
    # same wallet trips the unique index and reruns.
    wallet = Wallet(
        owner_id=None if target.open_system else target.open_for_owner,
        currency=target.currency,
        kind=WalletKind.SYSTEM if target.open_system else WalletKind.USER,
    )
    wallet_repository.add(session, wallet)
    locked[wallet.id] = wallet
    return wallet


def _move(
    session: Session, item: _Pending, locked: dict[uuid.UUID, Wallet]
) -> tuple[Transfer, Wallet, Wallet]:
    movement = item.movement
    source = _materialize(session, item.source, locked)
    destination = _materialize(session, item.destination, locked)
    for wallet in (source, destination):
        check_wallet_open(wallet)
    if movement.reverses_transfer_id is not None:
        check_not_reversed_yet(session, movement.reverses_transfer_id)
    for wallet, label in ((source, "sending"), (destination, "receiving")):
        if wallet.frozen:
            raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")
    if source.kind == WalletKind.USER and source.balance < movement.amount:
        raise InsufficientFunds(
            f"wallet {source.id} has {format_minor(source.balance, source.currency)}, "
            f"transfer needs {format_minor(movement.amount, movement.currency)}"
        )
    if (
        destination.balance > MAX_AMOUNT_MINOR - movement.amount
        or source.balance < movement.amount - MAX_AMOUNT_MINOR
    ):
        # A BIGINT balance would overflow (the system wallet runs negative by everything deposited).
        raise InvalidAmount(
            f"{format_minor(movement.amount, movement.currency)} would take a balance past the largest "
            f"one a wallet can hold ({format_minor(MAX_AMOUNT_MINOR, movement.currency)})"
        )
    transfer = Transfer(
        kind=movement.kind,
        amount=movement.amount,
        currency=movement.currency,
        from_wallet_id=source.id,
        to_wallet_id=destination.id,
        memo=movement.memo,
        initiated_by=movement.initiated_by,
        reverses_transfer_id=movement.reverses_transfer_id,
    )
    repository.add(session, transfer)
    repository.flush(session)  # no ORM relationships: the transfer row must exist before its entries
    entries = [
        Entry(
            transfer_id=transfer.id,
            wallet_id=source.id,
            amount=-movement.amount,
            currency=movement.currency,
        ),
        Entry(
            transfer_id=transfer.id,
            wallet_id=destination.id,
            amount=movement.amount,
            currency=movement.currency,
        ),
    ]
    check_entries_balance(entries)
    for entry in entries:
        repository.add(session, entry)
    source.balance -= movement.amount
    destination.balance += movement.amount
    check_user_balance_non_negative(source)
    session.add(source)
    session.add(destination)
    repository.flush(session)
    return transfer, source, destination


def check_amount_in_range(amount: int) -> None:
    """Invariant: a transfer moves more than nothing, and no more than a BIGINT holds.

    Database twins: ck_transfers_amount_positive, and ck_entries_amount_nonzero for its
    entries, which carry the amount and its negation.
    """
    if not 0 < amount <= MAX_AMOUNT_MINOR:
        raise InvalidAmount(
            f"amount must be a whole number of minor units between 1 and {MAX_AMOUNT_MINOR}, got {amount}"
        )


def check_distinct_wallets(source: Wallet | None, destination: Wallet | None) -> None:
    """Invariant: money moves between two different wallets (twin: ck_transfers_distinct_wallets).

    A wallet still to be opened (None) is a new one, so it differs from the other side.
    """
    if source and destination and source.id == destination.id:
        raise SelfTransfer("money cannot be sent to the wallet it comes from")


def check_wallet_open(wallet: Wallet) -> None:
    """Invariant: money never enters or leaves a closed wallet (twin: ck_wallets_closed_is_empty).

    The wallet was open when the movement was resolved; closed now, under the lock, means it
    was closed while this batch waited for that lock. The batch reruns from a fresh read,
    which answers as if the close had come first: a transfer by email goes to the
    recipient's open wallet (opened for them if need be), one to a wallet id is refused.
    """
    if wallet.closed_at is not None:
        raise LostRace(f"wallet {wallet.id} was closed while a transfer waited for its lock")


def check_not_reversed_yet(session: Session, transfer_id: uuid.UUID) -> None:
    """Invariant: a transfer is reversed at most once (twin: the unique reverses_transfer_id).

    Checked under the wallet locks, which every reversal of one transfer takes alike: a
    reversal that queued behind another one sees it here, before its balance checks.
    """
    existing = repository.get_reversal_of(session, transfer_id)
    if existing is not None:
        raise AlreadyReversed(f"transfer {transfer_id} was already reversed by {existing.id}")


def check_entries_balance(entries: list[Entry]) -> None:
    """Invariant: a transfer's entries sum to zero per currency (twin: trg_entries_sum_to_zero)."""
    totals: dict[str, int] = {}
    for entry in entries:
        totals[entry.currency] = totals.get(entry.currency, 0) + entry.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise AssertionError(f"entries do not sum to zero: {unbalanced}")


def check_user_balance_non_negative(wallet: Wallet) -> None:
    """Invariant: a user wallet never goes below zero.

    Database twin: ck_wallets_user_balance_non_negative.
    """
    if wallet.kind == WalletKind.USER and wallet.balance < 0:
        raise AssertionError(f"wallet {wallet.id} would go negative")


_EVENT_TYPES: dict[TransferKind, tuple[EventType | None, EventType | None]] = {
    TransferKind.TRANSFER: (EventType.TRANSFER_SENT, EventType.TRANSFER_RECEIVED),
    TransferKind.DEPOSIT: (None, EventType.WALLET_DEPOSIT),
    TransferKind.WITHDRAWAL: (EventType.WALLET_WITHDRAWAL, None),
    TransferKind.REVERSAL: (EventType.TRANSFER_REVERSED, EventType.TRANSFER_REVERSED),
}
"""What each kind of transfer tells its sender and its recipient (None: nothing)."""


def _announce(session: Session, transfer: TransferOut, source_balance: int, destination_balance: int) -> None:
    """Tell both parties, in user-id order so two transactions lock user rows alike."""
    sent_type, received_type = _EVENT_TYPES[transfer.kind]
    common = {
        "transfer_id": str(transfer.id),
        "kind": transfer.kind,
        "amount": transfer.amount,
        "currency": transfer.currency,
        "memo": transfer.memo,
    }
    sides = [
        (sent_type, transfer.sender, transfer.recipient, "out", source_balance),
        (received_type, transfer.recipient, transfer.sender, "in", destination_balance),
    ]
    announcements = [
        (
            party.user_id,
            event_type,
            {
                **common,
                "direction": direction,
                "wallet_id": str(party.wallet_id),
                "new_balance": balance,
                "counterparty": other.email or "outside world",
                "counterparty_wallet_id": str(other.wallet_id),
            },
        )
        for event_type, party, other, direction, balance in sides
        if event_type is not None and party.user_id is not None
    ]
    for user_id, event_type, payload in sorted(announcements, key=lambda a: str(a[0])):
        assert user_id is not None
        outbox.emit(session, event_type, user_id, payload)
