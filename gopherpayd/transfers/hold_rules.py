"""The rules of a hold, checked by the engine under the payer wallet's lock.

A hold reserves money in its payer's wallet: the wallet's `held` grows by the amount, its
`balance` (posted money) stays. Captures turn held money into transfers to the payee;
voids, declines and expiry release what is left. Every change to a hold happens in a
batch that holds its payer wallet's row lock, so the state read here, after the lock, is
the latest one, and expiry is decided against the batch's own clock: a capture after
`expires_at` is refused whether or not the sweeper has released the hold yet.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gopherpayd.transfers.errors import HoldExpired, HoldNotOpen
from gopherpayd.vocabulary import HoldAction, HoldStatus, WalletKind


@dataclass(frozen=True)
class HoldOp:
    """What a movement does to a hold (`MoneyMovement.hold`)."""

    action: HoldAction
    hold_id: uuid.UUID
    expires_at: datetime | None = None
    """Place and extend: the hold's (new) last moment."""
    capture_all: bool = False
    """Capture: everything the hold has left (the movement's amount is then unused)."""


@dataclass
class HoldState:
    """A hold as the batch holds it: read after its payer wallet's lock, changed in memory."""

    id: uuid.UUID
    payer_wallet_id: uuid.UUID
    payee_wallet_id: uuid.UUID
    currency: str
    amount: int
    captured: int
    released: int
    status: str
    expires_at: datetime
    memo: str | None
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
    new: bool = False
    """Placed by this batch: inserted instead of updated."""
    changed: bool = False

    @property
    def remaining(self) -> int:
        """Minor units still reserved: what is neither captured nor released."""
        return self.amount - self.captured - self.released

    def as_row(self) -> dict[str, object]:
        return {
            "id": self.id,
            "payer_wallet_id": self.payer_wallet_id,
            "payee_wallet_id": self.payee_wallet_id,
            "currency": self.currency,
            "amount": self.amount,
            "captured": self.captured,
            "released": self.released,
            "status": self.status,
            "expires_at": self.expires_at,
            "memo": self.memo,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def is_expired(hold: HoldState, now: datetime) -> bool:
    """A hold is live up to and including `expires_at`; one moment later it is expired."""
    return hold.status == HoldStatus.EXPIRED or (hold.status == HoldStatus.OPEN and now > hold.expires_at)


def check_can_settle(hold: HoldState, now: datetime) -> None:
    """Capture, void, decline and extend need an open hold that has not expired (in that order)."""
    if hold.status not in (HoldStatus.OPEN, HoldStatus.EXPIRED):
        raise HoldNotOpen(f"hold {hold.id} is {hold.status}; nothing is left to settle")
    if is_expired(hold, now):
        raise HoldExpired(f"hold {hold.id} expired at {hold.expires_at.isoformat()}")


class _HeldWallet(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def kind(self) -> str: ...
    @property
    def balance(self) -> int: ...
    @property
    def held(self) -> int: ...


def check_held_non_negative(wallet: _HeldWallet) -> None:
    """Invariant: a wallet never holds less than nothing.

    Database twin: ck_wallets_held_non_negative.
    """
    if wallet.held < 0:
        raise AssertionError(f"wallet {wallet.id} would hold {wallet.held}")


def check_user_available_non_negative(wallet: _HeldWallet) -> None:
    """Invariant: a user wallet's available money (balance - held) never goes below zero.

    Database twin: ck_wallets_user_held_within_balance.
    """
    if wallet.kind == WalletKind.USER and wallet.balance - wallet.held < 0:
        raise AssertionError(f"wallet {wallet.id} would have {wallet.balance - wallet.held} available")


def check_hold_settles_within_amount(hold: HoldState) -> None:
    """Invariant: a hold's captured plus released amount never exceeds what it held, and a
    hold that is no longer open has nothing left.

    Database twins: ck_holds_settled_within_amount, ck_holds_closed_is_settled.
    """
    if hold.captured < 0 or hold.released < 0 or hold.remaining < 0:
        raise AssertionError(f"hold {hold.id} would settle more than it holds")
    if hold.status != HoldStatus.OPEN and hold.remaining != 0:
        raise AssertionError(f"hold {hold.id} would close with {hold.remaining} left")
