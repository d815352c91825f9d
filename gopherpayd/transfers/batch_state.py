"""A batch as the engine holds it while it checks its movements: the locked wallets (their
balances changed in memory), the rows to write, and the shared steps every kind of movement
uses: opening a wallet under the batch, naming a party, recording a transfer and its events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gopherpayd.audit import service as audit_log
from gopherpayd.fx.models import FxQuote
from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import hold_rules
from gopherpayd.transfers.errors import InvalidAmount
from gopherpayd.transfers.hold_rules import HoldState
from gopherpayd.transfers.ledger_rules import check_entries_balance, check_user_balance_non_negative
from gopherpayd.transfers.movements import MAX_AMOUNT_MINOR, MoneyMovement, WalletTarget
from gopherpayd.transfers.reads import BatchReads, WalletRow
from gopherpayd.transfers.schemas import FxOut, PartyOut, TransferOut
from gopherpayd.vocabulary import EventType, TransferKind, WalletKind
from gopherpayd.wallets.currencies import format_minor
from gopherpayd.wallets.errors import WalletFrozen


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
class Pending:
    index: int
    movement: MoneyMovement
    source: WalletTarget
    destination: WalletTarget
    house: tuple[WalletTarget, ...] = ()
    """An FX movement's FX house wallets (sell currency, buy currency) and revenue wallet (sell)."""


@dataclass
class Writes:
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


def materialize(target: WalletTarget, locked: dict[uuid.UUID, LockedWallet], writes: Writes) -> LockedWallet:
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


def party(reads: BatchReads, wallet: LockedWallet | WalletRow) -> PartyOut:
    owner = reads.user(wallet.owner_id) if wallet.owner_id is not None else None
    return PartyOut(
        wallet_id=wallet.id,
        user_id=owner.id if owner else None,
        email=owner.email if owner else None,
        full_name=owner.full_name if owner else None,
        system=wallet.kind != WalletKind.USER,
    )


def funds(wallet: LockedWallet) -> str:
    """What a wallet can spend, as a refusal says it (its held part named when there is one)."""
    if wallet.held == 0:
        return format_minor(wallet.balance, wallet.currency)
    return f"{format_minor(wallet.available, wallet.currency)} available"


def post_transfer(
    reads: BatchReads,
    writes: Writes,
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
    body = record_transfer(
        reads,
        writes,
        movement,
        transfer_id,
        amount,
        source,
        destination,
        [(w, a, movement.currency) for w, a in entries],
    )
    writes.announcements += announcements(body, source.balance, destination.balance)
    return body


def record_transfer(
    reads: BatchReads,
    writes: Writes,
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
    sender, recipient = party(reads, source), party(reads, destination)
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


_EVENT_TYPES: dict[TransferKind, tuple[EventType | None, EventType | None]] = {
    TransferKind.TRANSFER: (EventType.TRANSFER_SENT, EventType.TRANSFER_RECEIVED),
    TransferKind.DEPOSIT: (None, EventType.WALLET_DEPOSIT),
    TransferKind.WITHDRAWAL: (EventType.WALLET_WITHDRAWAL, None),
    TransferKind.REVERSAL: (EventType.TRANSFER_REVERSED, EventType.TRANSFER_REVERSED),
}
"""What each kind of transfer tells its sender and its recipient (None: nothing)."""


def announcements(
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


def refuse_frozen(sending: LockedWallet, receiving: LockedWallet) -> None:
    """wallet_frozen, the sending wallet checked first, on the wallets as the batch locked them."""
    for wallet, label in ((sending, "sending"), (receiving, "receiving")):
        if wallet.frozen:
            raise WalletFrozen(f"{label} wallet {wallet.id} is frozen")


def refuse_overflow(source: LockedWallet, target: LockedWallet, amount: int, currency: str) -> None:
    """invalid_amount when moving `amount` would take a BIGINT balance past its range (the
    system wallet and the FX house run negative by everything they paid out)."""
    if target.balance > MAX_AMOUNT_MINOR - amount or source.balance < amount - MAX_AMOUNT_MINOR:
        raise InvalidAmount(
            f"{format_minor(amount, currency)} would take a balance past the largest "
            f"one a wallet can hold ({format_minor(MAX_AMOUNT_MINOR, currency)})"
        )
