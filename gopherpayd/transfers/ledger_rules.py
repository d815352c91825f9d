"""The ledger's invariants as the engine checks them before it writes; each has a database
twin and an audit query (`gopherpayd.admin.invariants` lists them together)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from gopherpayd.kit.db import LostRace
from gopherpayd.transfers import repository
from gopherpayd.transfers.errors import (
    AlreadyReversed,
    InvalidAmount,
    SelfTransfer,
)
from gopherpayd.transfers.movements import MAX_AMOUNT_MINOR
from gopherpayd.transfers.reads import WalletRow
from gopherpayd.vocabulary import WalletKind


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
