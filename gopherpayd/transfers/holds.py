"""Hold rules outside the transaction: who may do what to a hold, the movements that do it,
and the reads (list, show).

Every change to a hold is a movement of the coalescing writer (`engine.MoneyMovement` with
a `HoldOp`): batched with transfers, serialized by the payer wallet's row lock, idempotent
under the caller's key. Who may act is decided from the hold's parties, which never change:
the payer captures, voids and extends, the payee declines, an operator may do all; anyone
else is told the hold does not exist, as for transfers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from gopherpayd.audit.service import AuditNote
from gopherpayd.identity.service import Principal, normalize_email
from gopherpayd.kit.clock import as_utc, utcnow
from gopherpayd.kit.db import Database
from gopherpayd.kit.pagination import Cursor, split_page
from gopherpayd.settings import Settings
from gopherpayd.transfers import repository, writer
from gopherpayd.transfers.errors import HoldActionForbidden, HoldNotFound, InvalidExpiry
from gopherpayd.transfers.hold_rules import HoldOp
from gopherpayd.transfers.movements import MoneyMovement, Selector, WalletTarget
from gopherpayd.transfers.outcomes import MovementOutcome
from gopherpayd.transfers.reads import BatchReads, ReadHints
from gopherpayd.transfers.schemas import (
    MAX_HOLD_SECONDS,
    CaptureRequestBody,
    ExtendRequestBody,
    HoldOut,
    HoldPage,
    HoldRequestBody,
    PartyOut,
)
from gopherpayd.transfers.service import (
    idempotency_claim,
    own_wallet,
    recipient_by_email,
    session_guard,
)
from gopherpayd.vocabulary import HoldAction, TransferKind, WalletKind
from gopherpayd.wallets import repository as wallet_repository
from gopherpayd.wallets.service import supported_currency

PAYER_ACTIONS = frozenset({HoldAction.CAPTURE, HoldAction.VOID, HoldAction.EXTEND})
PAYEE_ACTIONS = frozenset({HoldAction.DECLINE})


def expiry_of(expires_at: datetime | None, expires_in: int | None, now: datetime) -> datetime:
    """The moment a hold ends, from an RFC 3339 time or a number of seconds from `now`; refused
    when it is not later than now or more than the longest hold away."""
    if expires_in is not None:
        moment = now + timedelta(seconds=expires_in)
    else:
        assert expires_at is not None  # schema: exactly one of the two
        try:
            moment = as_utc(expires_at)
        except OverflowError as error:
            raise InvalidExpiry("expires_at is out of range") from error
    if moment > now + timedelta(seconds=MAX_HOLD_SECONDS):
        raise InvalidExpiry(f"a hold may last at most {MAX_HOLD_SECONDS // 86400} days")
    return moment


def place_movement(
    principal: Principal,
    body: HoldRequestBody,
    key: str | None,
    *,
    now: datetime,
    require_verified_email: bool = False,
) -> MoneyMovement:
    """The movement that reserves `body.amount` of the caller's money for `body.to`."""
    currency = supported_currency(body.currency)
    request = body.model_dump(mode="json") | {"currency": currency, "to": normalize_email(body.to)}
    claim = idempotency_claim(principal, key, f"hold.{HoldAction.PLACE}", request)
    op = HoldOp(HoldAction.PLACE, uuid.uuid4(), expires_at=expiry_of(body.expires_at, body.expires_in, now))
    return MoneyMovement(
        kind=TransferKind.TRANSFER,
        amount=body.amount,
        currency=currency,
        source=own_wallet(principal.user_id, currency, require_verified_email=require_verified_email),
        destination=recipient_by_email(body.to, currency, principal.user_id),
        initiated_by=principal.user_id,
        memo=body.memo,
        idempotency=claim,
        reads=ReadHints(users=(principal.user_id,), emails=(request["to"],)),
        session=session_guard(principal),
        hold=op,
    )


def _party_of_hold(
    hold_id: uuid.UUID, caller: uuid.UUID | None, is_admin: bool, action: HoldAction, side: str
) -> Selector:
    """The payer's (`side="payer"`) or the payee's wallet of a hold, once the caller may act on it."""

    def select(reads: BatchReads) -> WalletTarget:
        hold = reads.hold(hold_id)
        if hold is None:
            raise HoldNotFound(f"no hold {hold_id} among yours")
        payer_wallet, payee_wallet = reads.wallet(hold.payer_wallet_id), reads.wallet(hold.payee_wallet_id)
        assert payer_wallet is not None and payee_wallet is not None  # foreign keys
        payer_id, payee_id = payer_wallet.owner_id, payee_wallet.owner_id
        if caller is not None and not is_admin:
            if caller not in (payer_id, payee_id):
                raise HoldNotFound(f"no hold {hold_id} among yours")
            allowed = PAYER_ACTIONS if caller == payer_id else PAYEE_ACTIONS
            if action not in allowed:
                who = "payee" if caller == payee_id else "payer"
                doer = "payee" if action in PAYEE_ACTIONS else "payer"
                raise HoldActionForbidden(
                    f"the {who} of hold {hold_id} cannot {action} it; only its {doer} can"
                )
        wallet = payer_wallet if side == "payer" else payee_wallet
        owner = reads.user(wallet.owner_id) if wallet.owner_id is not None else None
        moves_money = action is HoldAction.CAPTURE
        return WalletTarget(
            wallet=wallet,
            currency=hold.currency,
            owner_frozen=bool(owner and owner.frozen and moves_money and side == "payer"),
            owner_label=owner.email if owner else "outside world",
            refuse_frozen_owner=moves_money,
        )

    return select


def settle_movement(
    principal: Principal | None,
    hold_id: uuid.UUID,
    action: HoldAction,
    key: str | None,
    *,
    amount: int | None = None,
    extend_to: ExtendRequestBody | None = None,
    request: dict[str, Any] | None = None,
    initiated_by: uuid.UUID | None = None,
) -> MoneyMovement:
    """The movement that captures, voids, declines, extends (to `extend_to`) or (principal None:
    the sweeper) expires a hold. `request` is what the caller sent, hashed with its key; the key
    is checked before the new expiry."""
    claim = None
    if principal is not None:
        body = {"hold_id": str(hold_id), **(request or {})}
        claim = idempotency_claim(principal, key, f"hold.{action}", body)
    expires_at = None
    if extend_to is not None:
        expires_at = expiry_of(extend_to.expires_at, extend_to.expires_in, utcnow())
    caller = principal.user_id if principal is not None else None
    is_admin = principal.is_admin if principal is not None else False
    audit = None
    if principal is not None and principal.is_admin:
        audit = AuditNote(
            principal.user_id,
            f"hold.{action}",
            f"hold:{hold_id}",
            f"operator {action} of a hold",
            {"amount": amount, "expires_at": expires_at.isoformat() if expires_at else None},
        )
    actor = caller if caller is not None else initiated_by
    assert actor is not None  # the sweeper names the hold's placer
    return MoneyMovement(
        kind=TransferKind.TRANSFER,
        amount=amount or 0,
        currency="",
        source=_party_of_hold(hold_id, caller, is_admin, action, "payer"),
        destination=_party_of_hold(hold_id, caller, is_admin, action, "payee"),
        initiated_by=actor,
        idempotency=claim,
        audit=audit,
        reads=ReadHints(users=(actor,), holds=(hold_id,)),
        hold=HoldOp(action, hold_id, expires_at=expires_at, capture_all=amount is None),
    )


async def submit(db: Database, settings: Settings, movement: MoneyMovement) -> MovementOutcome:
    return await asyncio.wrap_future(writer.writer_of(db, settings).submit(movement))


async def place(
    db: Database, settings: Settings, principal: Principal, body: HoldRequestBody, key: str | None
) -> MovementOutcome:
    """Reserve money for a payee, once per idempotency key."""
    movement = place_movement(
        principal, body, key, now=utcnow(), require_verified_email=settings.require_verified_email
    )
    return await submit(db, settings, movement)


async def capture(
    db: Database,
    settings: Settings,
    principal: Principal,
    hold_id: uuid.UUID,
    body: CaptureRequestBody,
    key: str | None,
) -> MovementOutcome:
    request = body.model_dump(mode="json")
    movement = settle_movement(
        principal, hold_id, HoldAction.CAPTURE, key, amount=body.amount, request=request
    )
    return await submit(db, settings, movement)


async def release(
    db: Database,
    settings: Settings,
    principal: Principal,
    hold_id: uuid.UUID,
    action: HoldAction,
    key: str | None,
) -> MovementOutcome:
    """Void (payer) or decline (payee) a hold."""
    return await submit(db, settings, settle_movement(principal, hold_id, action, key, request={}))


async def extend(
    db: Database,
    settings: Settings,
    principal: Principal,
    hold_id: uuid.UUID,
    body: ExtendRequestBody,
    key: str | None,
) -> MovementOutcome:
    request = body.model_dump(mode="json")
    movement = settle_movement(principal, hold_id, HoldAction.EXTEND, key, extend_to=body, request=request)
    return await submit(db, settings, movement)


def _describe(session: Session, rows: list[Any], viewer: uuid.UUID) -> list[HoldOut]:
    wallets = repository.wallets_with_owners(
        session, [w for row in rows for w in (row.payer_wallet_id, row.payee_wallet_id)]
    )

    def party(wallet_id: uuid.UUID) -> PartyOut:
        wallet, owner = wallets[wallet_id]
        return PartyOut(
            wallet_id=wallet.id,
            user_id=owner.id if owner else None,
            email=owner.email if owner else None,
            full_name=owner.full_name if owner else None,
            system=wallet.kind != WalletKind.USER,
        )

    described = []
    for row in rows:
        payer, payee = party(row.payer_wallet_id), party(row.payee_wallet_id)
        described.append(
            HoldOut(
                id=row.id,
                status=row.status,
                amount=row.amount,
                currency=row.currency,
                captured=row.captured,
                released=row.released,
                remaining=row.amount - row.captured - row.released,
                expires_at=row.expires_at,
                memo=row.memo,
                payer=payer,
                payee=payee,
                created_at=row.created_at,
                updated_at=row.updated_at,
                role="payer" if payer.user_id == viewer else "payee" if payee.user_id == viewer else None,
            )
        )
    return described


def list_holds(
    session: Session, principal: Principal, open_only: bool, cursor: str | None, limit: int
) -> HoldPage:
    """The holds the caller pays or is paid by, newest first (`open_only`: still open and not expired)."""
    after = Cursor.decode(cursor) if cursor else None
    wallet_ids = wallet_repository.list_all_wallet_ids_of(session, principal.user_id)
    now = utcnow() if open_only else None
    rows = repository.holds_of(session, wallet_ids, open_at=now, after=after, limit=limit + 1)
    page, next_cursor = split_page(rows, limit)
    return HoldPage(items=_describe(session, page, principal.user_id), next_cursor=next_cursor)


def get_hold(session: Session, principal: Principal, hold_id: uuid.UUID) -> HoldOut:
    """One hold, for its payer, its payee and operators only."""
    row = repository.get_hold(session, hold_id)
    if row is not None:
        described = _describe(session, [row], principal.user_id)[0]
        if principal.is_admin or described.role is not None:
            return described
    raise HoldNotFound(f"no hold {hold_id} among yours")
