"""Operator rules: cash in and out, freezes, reversals, the ledger audit."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlmodel import Session

from gopherpayd.admin import repository
from gopherpayd.admin.errors import OwnAccount
from gopherpayd.admin.invariants import INVARIANTS, currency_ledgers
from gopherpayd.admin.schemas import (
    AdminUserOut,
    AdminUserPage,
    AuditLogOut,
    AuditLogPage,
    AuditReport,
    CashMovementRequest,
    CurrencyTotals,
    FxPosition,
    ReversalRequest,
    Violation,
)
from gopherpayd.audit.service import AuditNote, console_actor, record
from gopherpayd.identity import repository as identity_repository
from gopherpayd.identity.errors import UserNotFound
from gopherpayd.identity.models import User
from gopherpayd.identity.schemas import UserOut
from gopherpayd.identity.service import Principal, normalize_email
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.outbox import service as outbox
from gopherpayd.settings import Settings
from gopherpayd.transfers import repository as transfer_repository
from gopherpayd.transfers import writer
from gopherpayd.transfers.errors import NotReversible, TransferNotFound
from gopherpayd.transfers.ledger_rules import check_not_reversed_yet
from gopherpayd.transfers.movements import MoneyMovement, Selector, WalletTarget
from gopherpayd.transfers.outcomes import MovementOutcome
from gopherpayd.transfers.reads import BatchReads, ReadHints
from gopherpayd.transfers.service import (
    DRY_RUN_KEY,
    idempotency_claim,
    own_wallet,
    preview,
    recipient_by_email,
)
from gopherpayd.vocabulary import EventType, TransferKind, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets import service as wallet_service
from gopherpayd.wallets.models import Wallet
from gopherpayd.wallets.schemas import WalletOut


def find_user(session: Session, ref: str) -> User:
    """A user by id or by email."""
    try:
        user = identity_repository.get_user(session, uuid.UUID(ref))
    except ValueError:
        user = identity_repository.get_user_by_email(session, normalize_email(ref))
    if user is None:
        raise UserNotFound(f"no user {ref}")
    return user


def search_users(session: Session, text: str | None, cursor: str | None, limit: int) -> AdminUserPage:
    after = Cursor.decode(cursor) if cursor else None
    users = identity_repository.search_users(session, text, after, limit + 1)
    page, next_cursor = split_page(users, limit)
    wallets = wallet_repository.list_open_user_wallets(session, [u.id for u in page])
    items = [
        AdminUserOut(
            **UserOut.of(user).model_dump(),
            wallets=[WalletOut.model_validate(w) for w in wallets if w.owner_id == user.id],
        )
        for user in page
    ]
    return AdminUserPage(items=items, next_cursor=next_cursor)


def system_wallet(currency: str) -> Selector:
    def select(reads: BatchReads) -> WalletTarget:
        wallet = reads.system_wallet(currency)
        if wallet is None:
            return WalletTarget(
                open_unowned=WalletKind.SYSTEM, currency=currency, owner_label="outside world"
            )
        return WalletTarget(wallet=wallet, currency=currency, owner_label="outside world")

    return select


def reversal_wallet(wallet_id: uuid.UUID) -> Selector:
    """One side of the transfer being reversed, read afresh in the engine's transaction."""

    def select(reads: BatchReads) -> WalletTarget:
        wallet = reads.wallet(wallet_id)
        assert wallet is not None  # foreign key
        if wallet.closed_at is not None:
            raise NotReversible(f"wallet {wallet.id} has been closed; the money cannot move back")
        return WalletTarget(wallet=wallet, currency=wallet.currency, owner_label=str(wallet.id))

    return select


def refuse_own_account(admin: Principal, owner_ids: set[uuid.UUID | None], action: str) -> None:
    if admin.user_id in owner_ids:
        raise OwnAccount(f"operator {admin.email} cannot {action} their own account; ask another operator")


def deposit(
    db: Database,
    settings: Settings,
    admin: Principal,
    body: CashMovementRequest,
    key: str | None,
    *,
    dry_run: bool = False,
) -> MovementOutcome:
    """Money in from the outside world, into a user's wallet, once per idempotency key."""
    movement = db.run(cash_movement, admin, TransferKind.DEPOSIT, body, _key(key, dry_run))
    return _execute(db, settings, movement, dry_run=dry_run)


def withdraw(
    db: Database,
    settings: Settings,
    admin: Principal,
    body: CashMovementRequest,
    key: str | None,
    *,
    dry_run: bool = False,
) -> MovementOutcome:
    """Money out of a user's wallet, to the outside world, once per idempotency key."""
    movement = db.run(cash_movement, admin, TransferKind.WITHDRAWAL, body, _key(key, dry_run))
    return _execute(db, settings, movement, dry_run=dry_run)


def reverse(
    db: Database,
    settings: Settings,
    admin: Principal,
    transfer_id: uuid.UUID,
    body: ReversalRequest,
    key: str | None,
    *,
    dry_run: bool = False,
) -> MovementOutcome:
    """Undo a transfer with a compensating one, once per idempotency key."""
    movement = db.run(reversal, admin, transfer_id, body, _key(key, dry_run))
    return _execute(db, settings, movement, dry_run=dry_run)


def _key(key: str | None, dry_run: bool) -> str | None:
    """A dry run may leave out the Idempotency-Key: it records none."""
    return (key or DRY_RUN_KEY) if dry_run else key


def _execute(
    db: Database, settings: Settings, movement: MoneyMovement, *, dry_run: bool = False
) -> MovementOutcome:
    """The movement through the coalescing writer, or with `dry_run` its preview, alone."""
    if dry_run:
        return preview(db, movement)
    return writer.commit(db, settings, movement)


def cash_movement(
    session: Session, admin: Principal, kind: TransferKind, body: CashMovementRequest, key: str | None
) -> MoneyMovement:
    """A deposit (outside world -> user) or withdrawal (user -> outside world)."""
    user = find_user(session, body.user)
    currency = wallet_service.supported_currency(body.currency)
    refuse_own_account(admin, {user.id}, "deposit into" if kind == TransferKind.DEPOSIT else "withdraw from")
    # Without a memo the request hashes as it did before there was one: old keys still replay.
    request = body.model_dump(mode="json", exclude={"memo"} if body.memo is None else set())
    request |= {"user": str(user.id), "currency": currency}
    claim = idempotency_claim(admin, key, kind, request)
    if kind == TransferKind.DEPOSIT:
        source, destination = (
            system_wallet(currency),
            recipient_by_email(user.email, currency, None),
        )
    else:
        source, destination = own_wallet(user.id, currency), system_wallet(currency)
    note = AuditNote(
        admin.user_id,
        kind,
        f"user:{user.id}",
        body.reason,
        {"email": user.email, "amount": body.amount, "currency": currency},
    )
    return MoneyMovement(
        kind=kind,
        amount=body.amount,
        currency=currency,
        source=source,
        destination=destination,
        initiated_by=admin.user_id,
        memo=body.memo,
        idempotency=claim,
        audit=note,
        reads=ReadHints(users=(user.id,), emails=(user.email,), system_currencies=(currency,)),
    )


def reversal(
    session: Session, admin: Principal, transfer_id: uuid.UUID, body: ReversalRequest, key: str | None
) -> MoneyMovement:
    """A compensating transfer: the original's amount, back the other way."""
    original = transfer_repository.get(session, transfer_id)
    if original is None:
        raise TransferNotFound(f"no transfer {transfer_id}")
    if original.kind == TransferKind.REVERSAL:
        raise NotReversible(f"transfer {transfer_id} is itself a reversal")
    source = wallet_repository.get(session, original.to_wallet_id)
    destination = wallet_repository.get(session, original.from_wallet_id)
    assert source is not None and destination is not None  # foreign keys
    refuse_own_account(admin, {source.owner_id, destination.owner_id}, "reverse a transfer of")
    reason = body.reason

    request = {"transfer_id": str(transfer_id), "reason": reason}
    if body.memo is not None:
        request["memo"] = body.memo
    claim = idempotency_claim(admin, key, TransferKind.REVERSAL, request)
    return MoneyMovement(
        kind=TransferKind.REVERSAL,
        amount=original.amount,
        currency=original.currency,
        source=reversal_wallet(source.id),
        destination=reversal_wallet(destination.id),
        initiated_by=admin.user_id,
        memo=body.memo,
        idempotency=claim,
        reverses_transfer_id=original.id,
        reads=ReadHints(wallets=(source.id, destination.id)),
        # Refused before any wallet is read; the engine checks again under the wallet locks.
        precheck=lambda s: check_not_reversed_yet(s, original.id),
        audit=AuditNote(
            admin.user_id,
            "reverse",
            f"transfer:{transfer_id}",
            reason,
            {"amount": original.amount, "currency": original.currency},
        ),
    )


def set_user_frozen(session: Session, admin: Principal, ref: str, frozen: bool, reason: str) -> User:
    user = find_user(session, ref)
    now = utcnow()
    user.frozen = frozen
    identity_repository.update_user(session, user)
    if frozen:
        identity_repository.revoke_sessions(session, user.id, "account_frozen", now)
        # The reason is internal (the audit log has it); the customer is told only that they are frozen.
        outbox.emit(session, EventType.ACCOUNT_FROZEN, user.id, {})
    else:
        outbox.emit(session, EventType.ACCOUNT_UNFROZEN, user.id, {})
    action = "freeze_user" if frozen else "unfreeze_user"
    record(session, AuditNote(admin.user_id, action, f"user:{user.id}", reason, {"email": user.email}))
    return user


def set_wallet_frozen(
    session: Session, admin: Principal, ref: str, currency: str, frozen: bool, reason: str
) -> Wallet:
    user = find_user(session, ref)
    wallet = wallet_service.set_wallet_frozen(session, user.id, currency, frozen)
    payload = {"wallet_id": str(wallet.id), "currency": wallet.currency}
    outbox.emit(session, EventType.WALLET_FROZEN if frozen else EventType.WALLET_UNFROZEN, user.id, payload)
    action = "freeze_wallet" if frozen else "unfreeze_wallet"
    record(
        session,
        AuditNote(
            admin.user_id,
            action,
            f"wallet:{wallet.id}",
            reason,
            {"email": user.email, "currency": wallet.currency},
        ),
    )
    return wallet


def audit(session: Session) -> AuditReport:
    """Check every ledger invariant that has an audit query and report each violation found."""
    violations = [
        Violation(invariant=invariant.name, subject=subject, detail=detail)
        for invariant in INVARIANTS
        if invariant.audit_query is not None
        for subject, detail in invariant.audit_query(session)
    ]
    totals, positions = [], []
    for ledger in currency_ledgers(session):
        if ledger.fx_house or ledger.fx_revenue:
            positions.append(
                FxPosition(currency=ledger.currency, house=ledger.fx_house, revenue=ledger.fx_revenue)
            )
        totals.append(
            CurrencyTotals(
                currency=ledger.currency,
                wallets_total=ledger.wallets_total,
                deposits=ledger.deposits,
                withdrawals=ledger.withdrawals,
            )
        )
        for invariant in INVARIANTS:
            detail = invariant.currency_violation(ledger) if invariant.currency_violation else None
            if detail is not None:
                violations.append(
                    Violation(invariant=invariant.name, subject=f"currency:{ledger.currency}", detail=detail)
                )
    return AuditReport(
        ok=not violations,
        checked_at=utcnow(),
        violations=violations,
        totals=totals,
        fx_positions=positions,
        counts=repository.table_counts(session),
    )


def audit_log(session: Session, cursor: str | None, limit: int) -> AuditLogPage:
    after = Cursor.decode(cursor) if cursor else None
    rows = repository.audit_log_page(session, after, limit + 1)
    items = [_audit_out(entry, email) for entry, email in rows[:limit]]
    last = rows[limit - 1][0] if len(rows) > limit else None
    return AuditLogPage(items=items, next_cursor=Cursor(last.created_at, last.id).encode() if last else None)


def _audit_out(entry: Any, email: str | None) -> AuditLogOut:
    details = json.loads(entry.details)
    return AuditLogOut(
        id=entry.id,
        actor_id=entry.actor_id,
        actor_email=email if email is not None else console_actor(details),
        action=entry.action,
        target=entry.target,
        reason=entry.reason,
        details=details,
        created_at=entry.created_at,
    )
