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
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol

from sqlmodel import Session

from gopherpayd.audit import service as audit_log
from gopherpayd.fx import legs as fx_legs
from gopherpayd.fx import repository as fx_repository
from gopherpayd.fx.errors import QuoteUsed
from gopherpayd.fx.models import FxQuote
from gopherpayd.fx.service import quote_refusal
from gopherpayd.identity import repository as identity_repository
from gopherpayd.identity.errors import AccountFrozen
from gopherpayd.identity.service import session_refusal
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database, LostRace, is_lost_race
from gopherpayd.kit.errors import AppError
from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import hold_rules, idempotency, repository
from gopherpayd.transfers.errors import (
    AlreadyReversed,
    CurrencyMismatch,
    HoldAmountExceeded,
    HoldNotExpired,
    HoldNotFound,
    HoldNotOpen,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    InvalidExpiry,
    LinkedFailed,
    RecipientFrozen,
    SelfTransfer,
)
from gopherpayd.transfers.hold_rules import HoldOp, HoldState
from gopherpayd.transfers.outcomes import HoldChanged, Moved, MovementOutcome, Refused
from gopherpayd.transfers.reads import BatchReads, ReadHints, WalletRow
from gopherpayd.transfers.repository import StoredAnswer
from gopherpayd.transfers.schemas import FxOut, HoldOut, PartyOut, TransferOut
from gopherpayd.vocabulary import EventType, HoldAction, HoldStatus, TransferKind, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets.currencies import format_minor
from gopherpayd.wallets.errors import WalletClosed, WalletFrozen

MAX_AMOUNT_MINOR = 2**63 - 1
"""The largest amount a BIGINT holds."""


@dataclass(frozen=True)
class WalletTarget:
    """Where money goes or comes from: an existing wallet, or one to open under the lock."""

    wallet: WalletRow | None = None
    open_for_owner: uuid.UUID | None = None
    open_unowned: WalletKind | None = None
    """The kind of owner-less wallet (system, FX house, FX revenue) to open when there is none."""
    currency: str = ""
    owner_frozen: bool = False
    owner_label: str = ""
    refuse_frozen_owner: bool = False
    """Refuse the movement when the owner is frozen: checked again under the owner's row lock,
    so a freeze that commits while the batch waits for its locks still stops it."""


Selector = Callable[[BatchReads], WalletTarget]


@dataclass(frozen=True)
class IdempotencyClaim:
    scope: str
    key: str
    request_hash: str
    request_id: str | None = field(default=None, compare=False)
    """The request that made the claim: a refusal's stored document names it (`request_id`),
    so the first answer and every replay carry the id of the request that was refused."""


@dataclass(frozen=True)
class SessionGuard:
    """The login a movement is made under, checked by its batch: the session must exist,
    belong to the user, not be revoked, and its account not be frozen. One query per batch
    instead of a transaction per request; a revocation that committed before the batch
    began stops the movement, whichever process made it."""

    session_id: uuid.UUID
    user_id: uuid.UUID


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
    reads: ReadHints = ReadHints()
    """What the selectors will look up, fetched for the whole batch at once."""
    session: SessionGuard | None = None
    """The caller's session when the endpoint left its check to the batch."""
    hold: HoldOp | None = None
    """A hold operation instead of a plain transfer: `source` selects the payer's wallet and
    `destination` the payee's (the payer's again for operations that move nothing to the payee)."""
    fx: FxOp | None = None
    """An FX quote to execute: `amount` and `currency` are its sell side, `source` selects the
    payer's wallet in that currency and `destination` the recipient's in the buy currency."""


@dataclass(frozen=True)
class FxOp:
    """What an FX movement executes: a quote, as read when the request came in. The engine
    reads it again under its row lock and uses it only if it is still unused and unexpired."""

    quote_id: uuid.UUID
    quote_owner: uuid.UUID
    buy_currency: str
    buy_amount: int
    """Minor units of `buy_currency` the recipient receives from the FX house."""
    fee: int
    """Minor units of the sell currency (of the movement's amount) for the revenue wallet."""
    rate: str
    spread: str


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


@dataclass
class LockedWallet:
    """A wallet as the batch holds it under its row lock: the balance changes in memory."""

    id: uuid.UUID
    owner_id: uuid.UUID | None
    currency: str
    kind: str
    balance: int
    frozen: bool
    closed_at: datetime | None
    opened: bool = False
    """Opened by this batch: inserted with its final balance instead of updated."""
    start_balance: int = 0
    held: int = 0
    """Minor units of `balance` that open holds reserve; `balance - held` is available."""
    start_held: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass
class _Pending:
    index: int
    movement: MoneyMovement
    source: WalletTarget
    destination: WalletTarget
    house: tuple[WalletTarget, ...] = ()
    """An FX movement's FX house wallets (sell currency, buy currency) and revenue wallet (sell)."""


@dataclass
class _Writes:
    """The rows a batch writes, collected while its movements are checked."""

    now: datetime
    opened: dict[tuple[str, uuid.UUID | None, str], LockedWallet] = field(default_factory=dict)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    announcements: list[outbox.Announcement] = field(default_factory=list)
    audit_notes: list[audit_log.AuditNote] = field(default_factory=list)
    reversed: set[uuid.UUID] = field(default_factory=set)
    holds: dict[uuid.UUID, HoldState] = field(default_factory=dict)
    """The holds the batch's hold operations touch, read under their payer wallets' locks."""
    quotes: dict[uuid.UUID, FxQuote] = field(default_factory=dict)
    """The quotes the batch's FX movements execute, read under their row locks."""
    used_quotes: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    """Quote id -> the transfer of this batch that executes it."""


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
    pending: list[_Pending] = []
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
        house = _fx_wallets(reads, movement.currency, movement.fx) if movement.fx is not None else ()
        pending.append(_Pending(index, movement, source, destination, house))

    locked = _lock(
        session, [t.wallet for p in pending for t in (p.source, p.destination, *p.house) if t.wallet]
    )
    frozen = identity_repository.lock_users_frozen(session, _guarded_owners(pending))
    writes = _Writes(now=utcnow())
    writes.holds = repository.read_holds(
        session, [p.movement.hold.hold_id for p in pending if p.movement.hold is not None]
    )
    writes.quotes = fx_repository.lock_quotes(
        session, [p.movement.fx.quote_id for p in pending if p.movement.fx is not None]
    )
    for item in pending:
        try:
            _check_owners_not_frozen(item, frozen)
            if item.movement.hold is not None:
                results[item.index] = HoldChanged(_move_hold(reads, writes, item, locked))
            elif item.movement.fx is not None:
                results[item.index] = Moved(_move_fx(reads, writes, item, locked))
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


def _guarded_owners(pending: list[_Pending]) -> list[uuid.UUID]:
    owners = []
    for item in pending:
        for target in (item.source, item.destination):
            owner = target.wallet.owner_id if target.wallet is not None else target.open_for_owner
            if target.refuse_frozen_owner and owner is not None:
                owners.append(owner)
    return owners


def _check_owners_not_frozen(item: _Pending, frozen: dict[uuid.UUID, bool]) -> None:
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


def _materialize(
    target: WalletTarget, locked: dict[uuid.UUID, LockedWallet], writes: _Writes
) -> LockedWallet:
    """The locked wallet of `target`, or the one to open for it (kept only if the movement moves)."""
    if target.wallet is not None:
        return locked[target.wallet.id]
    kind = target.open_unowned or WalletKind.USER
    owner_id = None if target.open_unowned else target.open_for_owner
    opened = writes.opened.get((kind, owner_id, target.currency))
    if opened is not None:  # by an earlier movement of this batch
        return opened
    # A wallet nobody else can see yet needs no lock; a concurrent opener of the
    # same wallet trips the unique index at insert and the batch reruns.
    return LockedWallet(
        id=uuid.uuid4(),
        owner_id=owner_id,
        currency=target.currency,
        kind=kind,
        balance=0,
        frozen=False,
        closed_at=None,
        opened=True,
    )


def _move(
    session: Session,
    reads: BatchReads,
    writes: _Writes,
    item: _Pending,
    locked: dict[uuid.UUID, LockedWallet],
) -> TransferOut:
    """Check one movement against the locked balances; if it may move, record its rows."""
    movement = item.movement
    source = _materialize(item.source, locked, writes)
    destination = _materialize(item.destination, locked, writes)
    for wallet in (source, destination):
        check_wallet_open(wallet)
    if movement.reverses_transfer_id is not None:
        if movement.reverses_transfer_id in writes.reversed:
            raise AlreadyReversed(f"transfer {movement.reverses_transfer_id} is being reversed in this batch")
        check_not_reversed_yet(session, movement.reverses_transfer_id)
    for wallet, label in ((source, "sending"), (destination, "receiving")):
        if wallet.frozen:
            raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")
    if source.kind == WalletKind.USER and source.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {source.id} has {_funds(source)}, "
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
    # Every rule holds: from here on the movement happens.
    for wallet in (source, destination):
        if wallet.opened:
            writes.opened[(wallet.kind, wallet.owner_id, wallet.currency)] = wallet
            locked[wallet.id] = wallet
    if movement.reverses_transfer_id is not None:
        writes.reversed.add(movement.reverses_transfer_id)
    body = _post_transfer(reads, writes, movement, movement.amount, source, destination)
    if movement.audit is not None:
        writes.audit_notes.append(movement.audit)
    return body


def _funds(wallet: LockedWallet) -> str:
    """What a wallet can spend, as a refusal says it (its held part named when there is one)."""
    if wallet.held == 0:
        return format_minor(wallet.balance, wallet.currency)
    return f"{format_minor(wallet.available, wallet.currency)} available"


def _post_transfer(
    reads: BatchReads,
    writes: _Writes,
    movement: MoneyMovement,
    amount: int,
    source: LockedWallet,
    destination: LockedWallet,
) -> TransferOut:
    """Record a transfer of `amount` from `source` to `destination`, whose rules all hold."""
    transfer_id = uuid.uuid4()
    entries = [(source.id, -amount), (destination.id, amount)]
    check_entries_balance([(movement.currency, signed) for _wallet_id, signed in entries])
    source.balance -= amount
    destination.balance += amount
    check_user_balance_non_negative(source)
    hold_rules.check_user_available_non_negative(source)
    body = _record_transfer(
        reads,
        writes,
        movement,
        transfer_id,
        amount,
        source,
        destination,
        [(w, a, movement.currency) for w, a in entries],
    )
    writes.announcements += _announcements(body, source.balance, destination.balance)
    return body


def _record_transfer(
    reads: BatchReads,
    writes: _Writes,
    movement: MoneyMovement,
    transfer_id: uuid.UUID,
    amount: int,
    source: LockedWallet,
    destination: LockedWallet,
    entries: list[tuple[uuid.UUID, int, str]],
    fx: FxOut | None = None,
) -> TransferOut:
    """The rows of a transfer whose balances are already changed: its row, its entries
    (wallet, signed amount, currency), and the Transfer as its initiator sees it."""
    writes.transfers.append(
        {
            "id": transfer_id,
            "kind": str(TransferKind(movement.kind)),
            "amount": amount,
            "currency": movement.currency,
            "from_wallet_id": source.id,
            "to_wallet_id": destination.id,
            "memo": movement.memo,
            "initiated_by": movement.initiated_by,
            "reverses_transfer_id": movement.reverses_transfer_id,
            "quote_id": fx.quote_id if fx is not None else None,
            "created_at": writes.now,
        }
    )
    writes.entries += [
        {
            "id": uuid.uuid4(),
            "transfer_id": transfer_id,
            "wallet_id": wallet_id,
            "amount": signed,
            "currency": currency,
            "created_at": writes.now,
        }
        for wallet_id, signed, currency in entries
    ]
    sender, recipient = _party(reads, source), _party(reads, destination)
    viewer = movement.initiated_by
    direction: Literal["in", "out"] | None = None
    if sender.user_id == viewer:  # an exchange's owner is both: their money went out
        direction = "out"
    elif recipient.user_id == viewer:
        direction = "in"
    return TransferOut(
        id=transfer_id,
        kind=movement.kind,
        amount=amount,
        currency=movement.currency,
        sender=sender,
        recipient=recipient,
        memo=movement.memo,
        reverses_transfer_id=movement.reverses_transfer_id,
        created_at=writes.now,
        direction=direction,
        fx=fx,
    )


def _fx_wallets(reads: BatchReads, sell: str, op: FxOp) -> tuple[WalletTarget, ...]:
    """The FX house's wallets in the sell and the buy currency, and the revenue wallet of the
    sell currency: each opened (under the batch, by the first movement that needs it) if need be."""

    def target(kind: WalletKind, currency: str) -> WalletTarget:
        wallet = reads.unowned_wallet(kind, currency)
        label = "FX house" if kind == WalletKind.FX_HOUSE else "FX revenue"
        if wallet is None:
            return WalletTarget(open_unowned=kind, currency=currency, owner_label=label)
        return WalletTarget(wallet=wallet, currency=currency, owner_label=label)

    return (
        target(WalletKind.FX_HOUSE, sell),
        target(WalletKind.FX_HOUSE, op.buy_currency),
        target(WalletKind.FX_REVENUE, sell),
    )


def _move_fx(
    reads: BatchReads, writes: _Writes, item: _Pending, locked: dict[uuid.UUID, LockedWallet]
) -> TransferOut:
    """Execute a quote: check it (under its row lock) and the wallets against the locked
    balances; if everything holds, record one transfer whose entries are the quote's legs."""
    movement, op = item.movement, item.movement.fx
    assert op is not None
    quote = writes.quotes.get(op.quote_id)
    if quote is not None and quote.user_id == op.quote_owner and op.quote_id in writes.used_quotes:
        # Executed by an earlier movement of this batch: used, as it will be once it commits.
        raise QuoteUsed(f"quote {op.quote_id} was used by another request; ask for a new one")
    refusal = quote_refusal(quote, op.quote_id, op.quote_owner, writes.now)
    if refusal is not None:
        raise refusal
    assert quote is not None
    if (quote.sell_currency, quote.sell_amount, quote.buy_currency, quote.buy_amount, quote.fee) != (
        movement.currency,
        movement.amount,
        op.buy_currency,
        op.buy_amount,
        op.fee,
    ):
        raise AssertionError(f"quote {quote.id} changed after it was read")  # quotes never change
    payer = _materialize(item.source, locked, writes)
    recipient = _materialize(item.destination, locked, writes)
    house_sell, house_buy, revenue = (_materialize(target, locked, writes) for target in item.house)
    for wallet in (payer, recipient):
        check_wallet_open(wallet)
    for wallet, label in ((payer, "sending"), (recipient, "receiving")):
        if wallet.frozen:
            raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")
    if payer.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {payer.id} has {_funds(payer)}, "
            f"the exchange needs {format_minor(movement.amount, movement.currency)}"
        )
    wallets = {
        (fx_legs.Party.PAYER, movement.currency): payer,
        (fx_legs.Party.HOUSE, movement.currency): house_sell,
        (fx_legs.Party.REVENUE, movement.currency): revenue,
        (fx_legs.Party.HOUSE, op.buy_currency): house_buy,
        (fx_legs.Party.RECIPIENT, op.buy_currency): recipient,
    }
    legs = [
        leg
        for leg in fx_legs.quote_legs(
            movement.currency, op.buy_currency, movement.amount, op.fee, op.buy_amount
        )
        if leg.amount > 0
    ]
    for leg in legs:
        source, target = wallets[(leg.source, leg.currency)], wallets[(leg.target, leg.currency)]
        if target.balance > MAX_AMOUNT_MINOR - leg.amount or source.balance < leg.amount - MAX_AMOUNT_MINOR:
            raise InvalidAmount(
                f"{format_minor(leg.amount, leg.currency)} would take a balance past the largest "
                f"one a wallet can hold ({format_minor(MAX_AMOUNT_MINOR, leg.currency)})"
            )
    # Every rule holds: from here on the quote is executed.
    for wallet in wallets.values():
        if wallet.opened:
            writes.opened[(wallet.kind, wallet.owner_id, wallet.currency)] = wallet
            locked[wallet.id] = wallet
    transfer_id = uuid.uuid4()
    entries: list[tuple[uuid.UUID, int, str]] = []
    for leg in legs:
        source, target = wallets[(leg.source, leg.currency)], wallets[(leg.target, leg.currency)]
        source.balance -= leg.amount
        target.balance += leg.amount
        entries += [(source.id, -leg.amount, leg.currency), (target.id, leg.amount, leg.currency)]
    check_entries_balance([(currency, signed) for _wallet_id, signed, currency in entries])
    check_user_balance_non_negative(payer)
    hold_rules.check_user_available_non_negative(payer)
    writes.used_quotes[quote.id] = transfer_id
    fx = FxOut(
        quote_id=quote.id,
        sell=movement.currency,
        sell_amount=movement.amount,
        buy=op.buy_currency,
        buy_amount=op.buy_amount,
        fee=op.fee,
        rate=op.rate,
        spread=op.spread,
    )
    body = _record_transfer(
        reads, writes, movement, transfer_id, movement.amount, payer, recipient, entries, fx
    )
    writes.announcements += _fx_announcements(body, payer.balance, recipient.balance)
    if movement.audit is not None:
        writes.audit_notes.append(movement.audit)
    return body


def _move_hold(
    reads: BatchReads, writes: _Writes, item: _Pending, locked: dict[uuid.UUID, LockedWallet]
) -> HoldOut:
    """Check one hold operation against the locked wallets and the hold read under their lock;
    if it may happen, change them in memory and record its rows."""
    movement, op = item.movement, item.movement.hold
    assert op is not None
    payer = _materialize(item.source, locked, writes)
    check_wallet_open(payer)
    payee: LockedWallet | None = None
    capture: TransferOut | None = None
    event: EventType | None
    if op.action is HoldAction.PLACE:
        payee = _materialize(item.destination, locked, writes)
        hold = _place(writes, movement, op, payer, payee, locked)
        event, moved = EventType.HOLD_PLACED, hold.amount
    else:
        found = writes.holds.get(op.hold_id)
        if found is None:  # the row was there when the batch resolved it: holds are never deleted
            raise HoldNotFound(f"no hold {op.hold_id}")
        hold = found
        if op.action is HoldAction.CAPTURE:
            payee = _materialize(item.destination, locked, writes)
        event, moved, capture = _settle(reads, writes, movement, op, hold, payer, payee)
        hold.updated_at, hold.changed = writes.now, True
    hold_rules.check_held_non_negative(payer)
    hold_rules.check_user_available_non_negative(payer)
    hold_rules.check_hold_settles_within_amount(hold)
    out = _describe_hold(reads, hold, payer, payee, movement.initiated_by)
    if capture is not None:
        out = out.model_copy(update={"capture": capture})
    if event is not None:
        writes.announcements += _hold_announcements(event, out, moved)
    if movement.audit is not None:
        writes.audit_notes.append(movement.audit)
    return out


def _place(
    writes: _Writes,
    movement: MoneyMovement,
    op: HoldOp,
    payer: LockedWallet,
    payee: LockedWallet,
    locked: dict[uuid.UUID, LockedWallet],
) -> HoldState:
    """Reserve the movement's amount in the payer's wallet for the payee."""
    check_wallet_open(payee)
    for wallet, label in ((payer, "sending"), (payee, "receiving")):
        if wallet.frozen:
            raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")
    if payer.kind == WalletKind.USER and payer.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {payer.id} has {_funds(payer)}, "
            f"hold needs {format_minor(movement.amount, movement.currency)}"
        )
    assert op.expires_at is not None  # the service sets it for a placement
    if op.expires_at <= writes.now:
        raise InvalidExpiry(
            f"the hold would expire at {op.expires_at.isoformat()}, which is not later than now"
        )
    if payee.opened:  # as in _move: inserted at the end, found by the batch's later movements
        writes.opened[(payee.kind, payee.owner_id, payee.currency)] = payee
        locked[payee.id] = payee
    payer.held += movement.amount
    hold = HoldState(
        id=op.hold_id,
        payer_wallet_id=payer.id,
        payee_wallet_id=payee.id,
        currency=movement.currency,
        amount=movement.amount,
        captured=0,
        released=0,
        status=HoldStatus.OPEN,
        expires_at=op.expires_at,
        memo=movement.memo,
        created_by=movement.initiated_by,
        created_at=writes.now,
        updated_at=writes.now,
        new=True,
    )
    writes.holds[hold.id] = hold
    return hold


_RELEASES = {
    HoldAction.VOID: (HoldStatus.VOIDED, EventType.HOLD_VOIDED),
    HoldAction.DECLINE: (HoldStatus.DECLINED, EventType.HOLD_DECLINED),
    HoldAction.EXPIRE: (HoldStatus.EXPIRED, EventType.HOLD_EXPIRED),
}


def _settle(
    reads: BatchReads,
    writes: _Writes,
    movement: MoneyMovement,
    op: HoldOp,
    hold: HoldState,
    payer: LockedWallet,
    payee: LockedWallet | None,
) -> tuple[EventType | None, int, TransferOut | None]:
    """Capture, release or extend an existing hold: the event to announce (None: none), the
    minor units it captured or released, and a capture's transfer."""
    if op.action is HoldAction.EXPIRE:
        if hold.status != HoldStatus.OPEN:
            raise HoldNotOpen(f"hold {hold.id} is {hold.status}")
        if writes.now <= hold.expires_at:
            raise HoldNotExpired(f"hold {hold.id} expires at {hold.expires_at.isoformat()}")
    else:
        hold_rules.check_can_settle(hold, writes.now)
    if op.action is HoldAction.EXTEND:
        assert op.expires_at is not None  # the service sets it for an extension
        if op.expires_at <= hold.expires_at:
            raise InvalidExpiry(
                f"hold {hold.id} already runs until {hold.expires_at.isoformat()}; extend it to a later time"
            )
        hold.expires_at = op.expires_at
        return None, 0, None
    if op.action is HoldAction.CAPTURE:
        assert payee is not None
        amount = hold.remaining if op.capture_all else movement.amount
        if amount > hold.remaining:
            raise HoldAmountExceeded(
                f"hold {hold.id} has {format_minor(hold.remaining, hold.currency)} left, "
                f"the capture asks for {format_minor(amount, hold.currency)}"
            )
        check_wallet_open(payee)
        for wallet, label in ((payer, "sending"), (payee, "receiving")):
            if wallet.frozen:
                raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")
        if payee.balance > MAX_AMOUNT_MINOR - amount:
            raise InvalidAmount(
                f"{format_minor(amount, hold.currency)} would take the payee's balance past the largest "
                f"one a wallet can hold ({format_minor(MAX_AMOUNT_MINOR, hold.currency)})"
            )
        payer.held -= amount
        hold.captured += amount
        if hold.remaining == 0:
            hold.status = HoldStatus.CAPTURED
        # The capture is a transfer in the hold's currency, under the hold's memo.
        posting = dataclasses.replace(movement, currency=hold.currency, memo=hold.memo)
        transfer = _post_transfer(reads, writes, posting, amount, payer, payee)
        return EventType.HOLD_CAPTURED, amount, transfer
    status, event = _RELEASES[op.action]
    released = hold.remaining
    payer.held -= released
    hold.released += released
    hold.status = status
    return event, released, None


def _describe_hold(
    reads: BatchReads,
    hold: HoldState,
    payer: LockedWallet,
    payee_wallet: LockedWallet | None,
    viewer: uuid.UUID,
) -> HoldOut:
    """The hold as `viewer` sees it; the payee's wallet is read (not locked) when not at hand."""
    payee_row = payee_wallet if payee_wallet is not None else reads.wallet(hold.payee_wallet_id)
    assert payee_row is not None  # foreign key
    payee = _party(reads, payee_row)
    payer_party = _party(reads, payer)
    return HoldOut(
        id=hold.id,
        status=HoldStatus(hold.status),
        amount=hold.amount,
        currency=hold.currency,
        captured=hold.captured,
        released=hold.released,
        remaining=hold.remaining,
        expires_at=hold.expires_at,
        memo=hold.memo,
        payer=payer_party,
        payee=payee,
        created_at=hold.created_at,
        updated_at=hold.updated_at,
        role="payer" if payer_party.user_id == viewer else "payee" if payee.user_id == viewer else None,
    )


def _party(reads: BatchReads, wallet: LockedWallet | WalletRow) -> PartyOut:
    owner = reads.user(wallet.owner_id) if wallet.owner_id is not None else None
    return PartyOut(
        wallet_id=wallet.id,
        user_id=owner.id if owner else None,
        email=owner.email if owner else None,
        full_name=owner.full_name if owner else None,
        system=wallet.kind != WalletKind.USER,
    )


def _write(
    session: Session, writes: _Writes, locked: dict[uuid.UUID, LockedWallet], records: list[dict[str, Any]]
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


def check_amount_in_range(amount: int) -> None:
    """Invariant: a transfer moves more than nothing, and no more than a BIGINT holds.

    Database twins: ck_transfers_amount_positive, and ck_entries_amount_nonzero for its
    entries, which carry the amount and its negation.
    """
    if not 0 < amount <= MAX_AMOUNT_MINOR:
        raise InvalidAmount(
            f"amount must be a whole number of minor units between 1 and {MAX_AMOUNT_MINOR}, got {amount}"
        )


def check_distinct_wallets(source: WalletRow | None, destination: WalletRow | None) -> None:
    """Invariant: money moves between two different wallets (twin: ck_transfers_distinct_wallets).

    A wallet still to be opened (None) is a new one, so it differs from the other side.
    """
    if source and destination and source.id == destination.id:
        raise SelfTransfer("money cannot be sent to the wallet it comes from")


class _WalletState(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def balance(self) -> int: ...
    @property
    def closed_at(self) -> datetime | None: ...


def check_wallet_open(wallet: _WalletState) -> None:
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


def check_entries_balance(entries: Iterable[tuple[str, int]]) -> None:
    """Invariant: a transfer's entries, (currency, signed amount), sum to zero per currency.

    Database twin: trg_entries_sum_to_zero.
    """
    totals: dict[str, int] = {}
    for currency, amount in entries:
        totals[currency] = totals.get(currency, 0) + amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        raise AssertionError(f"entries do not sum to zero: {unbalanced}")


def check_user_balance_non_negative(wallet: _WalletState) -> None:
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


def _announcements(
    transfer: TransferOut, source_balance: int, destination_balance: int
) -> list[outbox.Announcement]:
    """What the transfer tells its sender and its recipient (each in their own stream)."""
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
    return [
        outbox.Announcement(
            event_type,
            party.user_id,
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


def _fx_announcements(
    transfer: TransferOut, payer_balance: int, recipient_balance: int
) -> list[outbox.Announcement]:
    """An exchange tells its owner fx.exchanged; a payment in another currency tells its sender
    transfer.sent (in what they paid) and its recipient transfer.received (in what they got)."""
    fx = transfer.fx
    assert fx is not None
    common = {
        "transfer_id": str(transfer.id),
        "kind": transfer.kind,
        "memo": transfer.memo,
        "quote_id": str(fx.quote_id),
        "sell_amount": fx.sell_amount,
        "sell_currency": fx.sell,
        "buy_amount": fx.buy_amount,
        "buy_currency": fx.buy,
        "fee": fx.fee,
        "rate": fx.rate,
    }
    sender, recipient = transfer.sender, transfer.recipient
    if transfer.kind == TransferKind.EXCHANGE:
        assert sender.user_id is not None
        payload = common | {
            "amount": fx.sell_amount,
            "currency": fx.sell,
            "direction": "out",
            "wallet_id": str(sender.wallet_id),
            "new_balance": payer_balance,
            "to_wallet_id": str(recipient.wallet_id),
            "to_new_balance": recipient_balance,
        }
        return [outbox.Announcement(EventType.FX_EXCHANGED, sender.user_id, payload)]
    sides = [
        (EventType.TRANSFER_SENT, sender, recipient, "out", fx.sell_amount, fx.sell, payer_balance),
        (EventType.TRANSFER_RECEIVED, recipient, sender, "in", fx.buy_amount, fx.buy, recipient_balance),
    ]
    return [
        outbox.Announcement(
            event_type,
            party.user_id,
            common
            | {
                "amount": amount,
                "currency": currency,
                "direction": direction,
                "wallet_id": str(party.wallet_id),
                "new_balance": balance,
                "counterparty": other.email or "outside world",
                "counterparty_wallet_id": str(other.wallet_id),
            },
        )
        for event_type, party, other, direction, amount, currency, balance in sides
        if party.user_id is not None
    ]


def _hold_announcements(event_type: EventType, hold: HoldOut, moved: int) -> list[outbox.Announcement]:
    """What a hold operation tells its payer and its payee (each in their own stream)."""
    common = {
        "hold_id": str(hold.id),
        "status": str(hold.status),
        "amount": moved,
        "currency": hold.currency,
        "hold_amount": hold.amount,
        "captured": hold.captured,
        "released": hold.released,
        "remaining": hold.remaining,
        "expires_at": hold.expires_at.isoformat(),
        "memo": hold.memo,
    }
    if hold.capture is not None:  # the transfer this capture posted
        common["transfer_id"] = str(hold.capture.id)
    sides = [(hold.payer, hold.payee, "payer"), (hold.payee, hold.payer, "payee")]
    return [
        outbox.Announcement(
            event_type,
            party.user_id,
            {
                **common,
                "role": role,
                "wallet_id": str(party.wallet_id),
                "counterparty": other.email or "outside world",
            },
        )
        for party, other, role in sides
        if party.user_id is not None
    ]
