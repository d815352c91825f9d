"""Wallet rules: one open wallet per user and currency, closing only when empty."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import LostRace
from gopherpayd.kit.pagination import CodeCursor, split_page_by
from gopherpayd.vocabulary import WalletKind
from gopherpayd.wallets import repository
from gopherpayd.wallets.currencies import CURRENCIES, Currency, format_minor, get_currency
from gopherpayd.wallets.errors import (
    UnsupportedCurrency,
    WalletExists,
    WalletFrozen,
    WalletNotEmpty,
    WalletNotFound,
)
from gopherpayd.wallets.models import Wallet


def supported_currency(code: str) -> str:
    """The canonical code for `code`, or a refusal naming what is supported."""
    upper = code.upper()
    if get_currency(upper) is None:
        raise UnsupportedCurrency(
            f"{code!r} is not a supported currency; supported: {', '.join(sorted(CURRENCIES))}"
        )
    return upper


def open_wallet(session: Session, owner_id: uuid.UUID, currency: str) -> Wallet:
    currency = supported_currency(currency)
    if repository.get_open_user_wallet(session, owner_id, currency) is not None:
        raise WalletExists(f"you already have a {currency} wallet")
    return repository.add(session, Wallet(owner_id=owner_id, currency=currency, kind=WalletKind.USER))


def list_wallets(
    session: Session, owner_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Wallet], str | None]:
    """One page of the user's open wallets, A to Z by currency, and the cursor after it."""
    after = CodeCursor.decode(cursor).code if cursor else None
    rows = repository.page_open_user_wallets(session, owner_id, after, limit + 1)
    return split_page_by(rows, limit, lambda last: CodeCursor(last.currency).encode())


def list_currencies(cursor: str | None, limit: int) -> tuple[list[Currency], str | None]:
    """One page of the supported currencies, A to Z by code, and the cursor after it."""
    after = CodeCursor.decode(cursor).code if cursor else None
    rows = [CURRENCIES[code] for code in sorted(CURRENCIES) if after is None or code > after]
    return split_page_by(rows[: limit + 1], limit, lambda last: CodeCursor(last.code).encode())


def get_wallet(session: Session, owner_id: uuid.UUID, currency: str) -> Wallet:
    currency = supported_currency(currency)
    wallet = repository.get_open_user_wallet(session, owner_id, currency)
    if wallet is None:
        raise WalletNotFound(
            f"you have no {currency} wallet; open one with: gopherpay wallets open {currency}"
        )
    return wallet


def close_wallet(session: Session, owner_id: uuid.UUID, currency: str) -> Wallet:
    """Close an empty wallet, deciding on the row as it stands under the lock a transfer takes.

    A transfer that already holds the lock finishes first (the balance is then no longer
    zero); one that comes later sees the wallet closed and never credits it.
    """
    wallet = _locked(session, get_wallet(session, owner_id, currency))
    if wallet.frozen:
        raise WalletFrozen(f"wallet {wallet.id} is frozen and cannot be closed")
    if wallet.balance != 0:
        raise WalletNotEmpty(
            f"wallet {wallet.id} holds {format_minor(wallet.balance, currency)}; send or withdraw it first"
        )
    wallet.closed_at = utcnow()
    session.add(wallet)
    session.flush()
    return wallet


def set_wallet_frozen(session: Session, owner_id: uuid.UUID, currency: str, frozen: bool) -> Wallet:
    wallet = _locked(session, get_wallet(session, owner_id, currency))
    wallet.frozen = frozen
    session.add(wallet)
    session.flush()
    return wallet


def _locked(session: Session, wallet: Wallet) -> Wallet:
    """The wallet re-read under its row lock.

    Closed in the meantime, the work runs again from a fresh read (which then finds no
    open wallet), as if the other close had come first.
    """
    locked = repository.lock_in_id_order(session, [wallet.id])[wallet.id]
    if locked.closed_at is not None:
        raise LostRace(f"wallet {wallet.id} was closed while we waited for its lock")
    return locked
