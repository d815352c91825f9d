"""HTTP: operator endpoints (role admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from gopherpayd.admin import service
from gopherpayd.admin.schemas import (
    AdminUserPage,
    AuditLogPage,
    AuditReport,
    CashMovementRequest,
    ReasonRequest,
    ReversalRequest,
)
from gopherpayd.identity.dependencies import CurrentAdmin
from gopherpayd.identity.schemas import UserOut
from gopherpayd.kit.context import Context
from gopherpayd.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from gopherpayd.transfers.endpoints import (
    MOVEMENT_RESPONSES,
    DryRun,
    IdempotencyKey,
    movement_response,
    preview_response,
)
from gopherpayd.transfers.outcomes import MovementOutcome
from gopherpayd.transfers.schemas import TransferOut
from gopherpayd.wallets.endpoints import CurrencyPath
from gopherpayd.wallets.schemas import WalletOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])
UserRef = Annotated[str, "user id or email"]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CursorParam = Annotated[str | None, Query(max_length=500)]


@router.get("/users")
def list_users(
    admin: CurrentAdmin,
    context: Context,
    q: Annotated[str | None, Query(max_length=254)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> AdminUserPage:
    """Search users by email or name, with their wallets."""
    return context.db.run(service.search_users, q, cursor, limit)


@router.post("/deposits", status_code=201, response_model=TransferOut, responses=MOVEMENT_RESPONSES)
def deposit(
    body: CashMovementRequest,
    admin: CurrentAdmin,
    context: Context,
    key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Response:
    """Bring money in from the outside world into a user's wallet."""
    return _answer(service.deposit(context.db, context.settings, admin, body, key, dry_run=dry_run), dry_run)


@router.post("/withdrawals", status_code=201, response_model=TransferOut, responses=MOVEMENT_RESPONSES)
def withdraw(
    body: CashMovementRequest,
    admin: CurrentAdmin,
    context: Context,
    key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Response:
    """Pay money out of a user's wallet to the outside world."""
    return _answer(service.withdraw(context.db, context.settings, admin, body, key, dry_run=dry_run), dry_run)


@router.post(
    "/transfers/{transfer_id}/reverse",
    status_code=201,
    response_model=TransferOut,
    responses=MOVEMENT_RESPONSES,
)
def reverse(
    transfer_id: uuid.UUID,
    body: ReversalRequest,
    admin: CurrentAdmin,
    context: Context,
    key: IdempotencyKey = None,
    dry_run: DryRun = False,
) -> Response:
    """Undo a transfer with a compensating transfer; history is never edited."""
    outcome = service.reverse(context.db, context.settings, admin, transfer_id, body, key, dry_run=dry_run)
    return _answer(outcome, dry_run)


def _answer(outcome: MovementOutcome, dry_run: bool) -> Response:
    return preview_response(outcome) if dry_run else movement_response(outcome)


@router.post("/users/{user}/freeze")
def freeze_user(user: UserRef, body: ReasonRequest, admin: CurrentAdmin, context: Context) -> UserOut:
    """Freeze an account: no login, no money in or out; its sessions are revoked."""
    return UserOut.of(context.db.run(service.set_user_frozen, admin, user, frozen=True, reason=body.reason))


@router.post("/users/{user}/unfreeze")
def unfreeze_user(user: UserRef, body: ReasonRequest, admin: CurrentAdmin, context: Context) -> UserOut:
    """Lift an account freeze."""
    return UserOut.of(context.db.run(service.set_user_frozen, admin, user, frozen=False, reason=body.reason))


@router.post("/users/{user}/wallets/{currency}/freeze")
def freeze_wallet(
    user: UserRef, currency: CurrencyPath, body: ReasonRequest, admin: CurrentAdmin, context: Context
) -> WalletOut:
    """Freeze one wallet: it can neither send nor receive."""
    return WalletOut.model_validate(
        context.db.run(service.set_wallet_frozen, admin, user, currency, frozen=True, reason=body.reason)
    )


@router.post("/users/{user}/wallets/{currency}/unfreeze")
def unfreeze_wallet(
    user: UserRef, currency: CurrencyPath, body: ReasonRequest, admin: CurrentAdmin, context: Context
) -> WalletOut:
    """Lift a wallet freeze."""
    return WalletOut.model_validate(
        context.db.run(service.set_wallet_frozen, admin, user, currency, frozen=False, reason=body.reason)
    )


@router.get("/audit")
def audit(admin: CurrentAdmin, context: Context) -> AuditReport:
    """Check every ledger invariant and list each violation."""
    return context.db.run(service.audit)


@router.get("/audit-log")
def audit_log(
    admin: CurrentAdmin, context: Context, limit: Limit = DEFAULT_LIMIT, cursor: CursorParam = None
) -> AuditLogPage:
    """Operator actions, newest first: who, what, when and why."""
    return context.db.run(service.audit_log, cursor, limit)
