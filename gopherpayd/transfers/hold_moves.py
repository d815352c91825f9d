"""Hold operations inside a batch: place, capture, void, decline, extend, expire, checked
against the payer's locked wallet and the hold read under that lock."""

from __future__ import annotations

import dataclasses
import uuid

from gopherpayd.outbox import service as outbox
from gopherpayd.transfers import hold_rules
from gopherpayd.transfers.batch_state import (
    LockedWallet,
    Pending,
    Writes,
    funds,
    materialize,
    party,
    post_transfer,
    refuse_frozen,
    refuse_overflow,
)
from gopherpayd.transfers.errors import (
    HoldAmountExceeded,
    HoldNotExpired,
    HoldNotFound,
    HoldNotOpen,
    InsufficientFunds,
    InvalidExpiry,
)
from gopherpayd.transfers.hold_rules import HoldOp, HoldState
from gopherpayd.transfers.ledger_rules import check_wallet_open
from gopherpayd.transfers.movements import MoneyMovement
from gopherpayd.transfers.reads import BatchReads
from gopherpayd.transfers.schemas import HoldOut, TransferOut
from gopherpayd.vocabulary import EventType, HoldAction, HoldStatus, WalletKind
from gopherpayd.wallets.currencies import format_minor


def move_hold(
    reads: BatchReads, writes: Writes, item: Pending, locked: dict[uuid.UUID, LockedWallet]
) -> HoldOut:
    """Check one hold operation against the locked wallets and the hold read under their lock;
    if it may happen, change them in memory and record its rows."""
    movement, op = item.movement, item.movement.hold
    assert op is not None
    payer = materialize(item.source, locked, writes)
    check_wallet_open(payer)
    payee: LockedWallet | None = None
    capture: TransferOut | None = None
    event: EventType | None
    if op.action is HoldAction.PLACE:
        payee = materialize(item.destination, locked, writes)
        hold = _place(writes, movement, op, payer, payee, locked)
        event, moved = EventType.HOLD_PLACED, hold.amount
    else:
        found = writes.holds.get(op.hold_id)
        if found is None:  # the row was there when the batch resolved it: holds are never deleted
            raise HoldNotFound(f"no hold {op.hold_id}")
        hold = found
        if op.action is HoldAction.CAPTURE:
            payee = materialize(item.destination, locked, writes)
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
    writes: Writes,
    movement: MoneyMovement,
    op: HoldOp,
    payer: LockedWallet,
    payee: LockedWallet,
    locked: dict[uuid.UUID, LockedWallet],
) -> HoldState:
    """Reserve the movement's amount in the payer's wallet for the payee."""
    check_wallet_open(payee)
    refuse_frozen(payer, payee)
    if payer.kind == WalletKind.USER and payer.available < movement.amount:
        raise InsufficientFunds(
            f"wallet {payer.id} has {funds(payer)}, "
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
    writes: Writes,
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
        refuse_frozen(payer, payee)
        refuse_overflow(payer, payee, amount, hold.currency)
        payer.held -= amount
        hold.captured += amount
        if hold.remaining == 0:
            hold.status = HoldStatus.CAPTURED
        # The capture is a transfer in the hold's currency, under the hold's memo.
        posting = dataclasses.replace(movement, currency=hold.currency, memo=hold.memo)
        transfer = post_transfer(reads, writes, posting, amount, payer, payee)
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
    payee = party(reads, payee_row)
    payer_party = party(reads, payer)
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
