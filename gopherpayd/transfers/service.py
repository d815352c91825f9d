"""Transfer rules: who may send what to whom, idempotency keys, history."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gopherpayd.fx import repository as fx_repository
from gopherpayd.fx.errors import QuoteMismatch, QuoteNotFound
from gopherpayd.fx.terms import RECENT, QuoteTerms
from gopherpayd.identity import repository as identity_repository
from gopherpayd.identity.errors import EmailNotVerified
from gopherpayd.identity.service import Caller, Principal, normalize_email, session_refusal
from gopherpayd.kit.db import Database
from gopherpayd.kit.logs import current_request_id
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine, repository, views, writer
from gopherpayd.transfers.errors import (
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    RecipientFrozen,
    RecipientNotFound,
    SelfTransfer,
    StatementTooLarge,
    TransferNotFound,
)
from gopherpayd.transfers.movements import (
    IdempotencyClaim,
    MoneyMovement,
    Selector,
    SessionGuard,
    WalletTarget,
)
from gopherpayd.transfers.outcomes import MovementOutcome
from gopherpayd.transfers.reads import BatchReads, ReadHints
from gopherpayd.transfers.repository import HistoryFilter
from gopherpayd.transfers.schemas import (
    ExchangeRequestBody,
    StatementLine,
    StatementOut,
    TransferOut,
    TransferPage,
    TransferRequestBody,
)
from gopherpayd.vocabulary import TransferKind, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets.errors import WalletNotFound
from gopherpayd.wallets.service import supported_currency

MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_STATEMENT_LINES = 10_000
"""The most movements one statement lists; a busier period is asked for in parts."""
DRY_RUN_KEY = "dry-run"
"""Stands in for the Idempotency-Key a dry run may leave out: a preview stores no key."""


def idempotency_claim(
    principal: Caller, key: str | None, operation: str, body: dict[str, Any]
) -> IdempotencyClaim:
    """The caller's key, bound to a hash of what they asked for."""
    key = checked_key(key)
    canonical = json.dumps({"operation": operation, "body": body}, sort_keys=True, default=str)
    request_hash = hashlib.sha256(canonical.encode()).hexdigest()
    return IdempotencyClaim(
        scope=str(principal.user_id), key=key, request_hash=request_hash, request_id=current_request_id.get()
    )


def checked_key(key: str | None) -> str:
    """The Idempotency-Key as given, or the refusal of a missing or malformed one."""
    if key is None or key == "":
        raise IdempotencyKeyRequired(
            "requests that move money need an Idempotency-Key header (for example a UUID)"
        )
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters"
        )
    return key


def own_wallet(
    user_id: uuid.UUID, currency: str, *, require_verified_email: bool = False, open_if_none: bool = False
) -> Selector:
    """The user's open wallet in `currency`; with `open_if_none`, one opened for them when they
    have none (where money arrives: the buy side of an exchange)."""

    def select(reads: BatchReads) -> WalletTarget:
        user = reads.user(user_id)
        if user is None:
            raise RecipientNotFound(f"no user {user_id}")
        if require_verified_email and user.email_verified_at is None:
            raise EmailNotVerified(
                f"verify {user.email} before sending money: "
                "gopherpay verify CODE (or gopherpay verify --resend)"
            )
        wallet = reads.open_user_wallet(user_id, currency)
        if wallet is None and open_if_none:
            return WalletTarget(
                open_for_owner=user_id,
                currency=currency,
                owner_frozen=user.frozen,
                owner_label=user.email,
                refuse_frozen_owner=True,
            )
        if wallet is None:
            raise WalletNotFound(
                f"{user.email} has no {currency} wallet; open one with: gopherpay wallets open {currency}"
            )
        return WalletTarget(
            wallet=wallet,
            currency=currency,
            owner_frozen=user.frozen,
            owner_label=user.email,
            refuse_frozen_owner=True,
        )

    return select


def recipient_by_email(email: str, currency: str, sender_id: uuid.UUID | None) -> Selector:
    """The recipient's wallet in `currency`, opened for them if they have none."""

    def select(reads: BatchReads) -> WalletTarget:
        user = reads.user_by_email(normalize_email(email))
        if user is None:
            raise RecipientNotFound(f"no account for {email}; ask them to sign up first")
        if user.id == sender_id:
            raise SelfTransfer("you cannot send money to yourself")
        if user.frozen:
            raise RecipientFrozen(f"account {user.email} is frozen and cannot receive money")
        wallet = reads.open_user_wallet(user.id, currency)
        if wallet is None:
            return WalletTarget(
                open_for_owner=user.id, currency=currency, owner_label=user.email, refuse_frozen_owner=True
            )
        return WalletTarget(
            wallet=wallet, currency=currency, owner_label=user.email, refuse_frozen_owner=True
        )

    return select


def recipient_by_wallet(wallet_id: uuid.UUID, sender_id: uuid.UUID) -> Selector:
    def select(reads: BatchReads) -> WalletTarget:
        wallet = reads.wallet(wallet_id)
        if wallet is None or wallet.kind != WalletKind.USER or wallet.closed_at is not None:
            raise RecipientNotFound(f"no open wallet {wallet_id}")
        assert wallet.owner_id is not None  # ck_wallets_system_has_no_owner
        if wallet.owner_id == sender_id:
            raise SelfTransfer("you cannot send money to your own wallet")
        owner = reads.user(wallet.owner_id)
        assert owner is not None  # foreign key
        if owner.frozen:
            raise RecipientFrozen(f"account {owner.email} is frozen and cannot receive money")
        return WalletTarget(
            wallet=wallet, currency=wallet.currency, owner_label=owner.email, refuse_frozen_owner=True
        )

    return select


def session_guard(caller: Caller) -> SessionGuard | None:
    """What the movement's batch must check of a caller whose session nothing checked yet."""
    return None if isinstance(caller, Principal) else SessionGuard(caller.session_id, caller.user_id)


def own_quote(user_id: uuid.UUID, quote_id: uuid.UUID, quote: QuoteTerms | None) -> QuoteTerms:
    """The quote to execute, or quote_not_found when it is not the caller's. Whether it is
    still unused and unexpired is decided by the movement's batch, under the quote's row lock."""
    if quote is None or quote.user_id != user_id:
        raise QuoteNotFound(f"no quote {quote_id} of yours; ask for one with POST /v1/fx/quotes")
    return quote


def read_quote(db: Database, caller: Caller, quote_id: uuid.UUID | None) -> QuoteTerms | None:
    """The terms of the quote a request names (they never change), for building its movement:
    from the quotes this process made, or read from the database. A caller whose session
    nothing checked yet has it checked first, in that transaction: whether a quote exists is
    told to live sessions only (a recent quote is used unread only for a checked caller whose
    quote it is; the batch checks the quote itself under its row lock either way)."""
    if quote_id is None:
        return None
    recent = RECENT.get(quote_id)
    if recent is not None and isinstance(caller, Principal) and recent.user_id == caller.user_id:
        return recent

    def read(session: Session) -> QuoteTerms | None:
        if not isinstance(caller, Principal):
            found = identity_repository.get_live_sessions(session, [caller.session_id])
            refusal = session_refusal(found.get(caller.session_id), caller.user_id)
            if refusal is not None:
                raise refusal
        quote = fx_repository.get_quote(session, quote_id)
        return QuoteTerms.of(quote) if quote is not None else None

    return db.run(read)


def user_transfer(
    principal: Caller,
    body: TransferRequestBody,
    key: str | None,
    *,
    require_verified_email: bool = False,
    quote: QuoteTerms | None = None,
) -> MoneyMovement:
    """A user sending money to another user; with a quote_id, received in the quote's buy
    currency (`quote` is that quote as read for the request). A caller whose session was not
    checked yet (not a `Principal`) has it checked by the movement's batch."""
    currency = supported_currency(body.currency)
    # Without a quote the request hashes as it always has (keys stored before FX replay).
    request = body.model_dump(mode="json", exclude=None if body.quote_id else {"quote_id"})
    request |= {"currency": currency}
    if body.to_email is not None:
        request["to_email"] = normalize_email(body.to_email)
    claim = idempotency_claim(principal, key, TransferKind.TRANSFER, request)
    fx, receives = None, currency
    if body.quote_id is not None:
        fx = own_quote(principal.user_id, body.quote_id, quote)
        if (fx.sell_currency, fx.sell_amount) != (currency, body.amount):
            raise QuoteMismatch(
                f"quote {fx.id} sells {fx.sell_amount} minor units of {fx.sell_currency}; "
                f"send exactly that amount and currency with it"
            )
        receives = fx.buy_currency
    fx_currencies = (currency, receives) if fx else ()
    if body.to_email is not None:
        destination = recipient_by_email(body.to_email, receives, principal.user_id)
        reads = ReadHints(
            users=(principal.user_id,), emails=(request["to_email"],), fx_currencies=fx_currencies
        )
    else:
        assert body.to_wallet_id is not None  # schema: exactly one recipient
        destination = recipient_by_wallet(body.to_wallet_id, principal.user_id)
        reads = ReadHints(
            users=(principal.user_id,), wallets=(body.to_wallet_id,), fx_currencies=fx_currencies
        )
    return MoneyMovement(
        fx=fx,
        kind=TransferKind.FX_TRANSFER if fx else TransferKind.TRANSFER,
        amount=body.amount,
        currency=currency,
        source=own_wallet(principal.user_id, currency, require_verified_email=require_verified_email),
        destination=destination,
        initiated_by=principal.user_id,
        memo=body.memo,
        idempotency=claim,
        reads=reads,
        session=session_guard(principal),
    )


async def send_money(
    db: Database, settings: Settings, principal: Caller, body: TransferRequestBody, key: str | None
) -> MovementOutcome:
    """Move money from the caller to another user, once per idempotency key.

    Awaited on the event loop: the writer's thread does the database work, in whichever
    batch this movement joins, so no worker thread waits for the commit.
    """
    if body.quote_id is not None:  # a missing or bad key is refused before the quote is read
        checked_key(key)
    quote = await asyncio.to_thread(read_quote, db, principal, body.quote_id) if body.quote_id else None
    movement = user_transfer(
        principal, body, key, require_verified_email=settings.require_verified_email, quote=quote
    )
    return await asyncio.wrap_future(writer.writer_of(db, settings).submit(movement))


def exchange_movement(
    principal: Caller, body: ExchangeRequestBody, key: str | None, quote: QuoteTerms | None
) -> MoneyMovement:
    """Execute a quote between the caller's own wallets (the buy one opened if need be)."""
    fx = own_quote(principal.user_id, body.quote_id, quote)
    user_id, sell = principal.user_id, fx.sell_currency
    return MoneyMovement(
        kind=TransferKind.EXCHANGE,
        amount=fx.sell_amount,
        currency=sell,
        source=own_wallet(user_id, sell),
        destination=own_wallet(user_id, fx.buy_currency, open_if_none=True),
        initiated_by=user_id,
        memo=body.memo,
        idempotency=idempotency_claim(principal, key, TransferKind.EXCHANGE, body.model_dump(mode="json")),
        reads=ReadHints(users=(user_id,), fx_currencies=(sell, fx.buy_currency)),
        session=session_guard(principal),
        fx=fx,
    )


async def exchange(
    db: Database, settings: Settings, principal: Caller, body: ExchangeRequestBody, key: str | None
) -> MovementOutcome:
    """Exchange money between the caller's own wallets on a quote of theirs, once per key."""
    checked_key(key)  # a missing or bad key is refused before the quote is read
    quote = await asyncio.to_thread(read_quote, db, principal, body.quote_id)
    movement = exchange_movement(principal, body, key, quote)
    return await asyncio.wrap_future(writer.writer_of(db, settings).submit(movement))


def preview_money(
    db: Database, settings: Settings, principal: Caller, body: TransferRequestBody, key: str | None
) -> MovementOutcome:
    """What sending this money would do now, without moving or storing anything."""
    movement = user_transfer(
        principal,
        body,
        key or DRY_RUN_KEY,
        require_verified_email=settings.require_verified_email,
        quote=read_quote(db, principal, body.quote_id),
    )
    return preview(db, movement)


def preview(db: Database, movement: MoneyMovement) -> MovementOutcome:
    """Every rule checked under the wallet locks, in a transaction of its own, nothing written.

    The idempotency claim is dropped: a preview neither replays nor records a key.
    """
    return engine.execute(db, [dataclasses.replace(movement, idempotency=None)], dry_run=True)[0]


def history(
    session: Session, principal: Principal, spec: HistoryFilter, cursor: str | None, limit: int
) -> TransferPage:
    after = Cursor.decode(cursor) if cursor else None
    wallet_ids = wallet_repository.list_all_wallet_ids_of(session, principal.user_id)
    spec = HistoryFilter(wallet_ids, spec.currency, spec.direction, spec.since, spec.until)
    rows = repository.history(session, spec, after, limit + 1)
    page, next_cursor = split_page(rows, limit)
    return TransferPage(items=views.describe(session, page, principal.user_id), next_cursor=next_cursor)


def get_transfer(session: Session, principal: Principal, transfer_id: uuid.UUID) -> TransferOut:
    """One transfer, only for a party to it (admins see all)."""
    transfer = repository.get(session, transfer_id)
    if transfer is not None:
        described = views.describe(session, [transfer], principal.user_id)[0]
        if principal.is_admin or described.direction is not None:
            return described
    raise TransferNotFound(f"no transfer {transfer_id} among yours")


def statement(
    session: Session, principal: Principal, currency: str, since: datetime, until: datetime
) -> StatementOut:
    """The caller's movements in `currency` from `since` to `until`, with the balances.

    The opening balance is the sum of the entries before `since`; the closing balance is
    the opening plus this period's entries, read in the same query as the lines, so the
    two always agree (a transfer committing meanwhile is either in both or in neither).
    """
    wallet_ids = repository.statement_wallet_ids(session, principal.user_id, currency)
    opening = repository.balance_before(session, wallet_ids, since)
    rows = repository.entries_between(session, wallet_ids, since, until, MAX_STATEMENT_LINES + 1)
    if len(rows) > MAX_STATEMENT_LINES:
        raise StatementTooLarge(
            f"more than {MAX_STATEMENT_LINES} movements in {currency} between {since.isoformat()} "
            f"and {until.isoformat()}; ask for a shorter period"
        )
    described = views.describe(session, [transfer for _, transfer in rows], principal.user_id)
    lines, balance = [], opening
    for (entry, _), transfer in zip(rows, described, strict=True):
        balance += entry.amount
        lines.append(StatementLine(transfer=transfer, amount=entry.amount, balance_after=balance))
    return StatementOut(
        currency=currency,
        since=since,
        until=until,
        opening_balance=opening,
        total_in=sum(entry.amount for entry, _ in rows if entry.amount > 0),
        total_out=-sum(entry.amount for entry, _ in rows if entry.amount < 0),
        closing_balance=balance,
        lines=lines,
    )
