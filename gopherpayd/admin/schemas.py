"""Request and response bodies for operators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from gopherpayd.identity.schemas import UserOut
from gopherpayd.transfers.models import MAX_MEMO_LENGTH
from gopherpayd.wallets.schemas import CURRENCY_PATTERN, WalletOut

MAX_REASON_LENGTH = 500
"""Also the limit `gopherpayd create-admin` and `set-role` hold --reason to."""
REASON_FIELD = Field(
    min_length=1,
    max_length=MAX_REASON_LENGTH,
    description="Why; kept in the operators' audit log, never shown to the customer",
)
MEMO_FIELD = Field(
    default=None,
    max_length=MAX_MEMO_LENGTH,
    description="What the customer sees on the transfer; none by default",
)


class ReasonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = REASON_FIELD


class CashMovementRequest(BaseModel):
    """A deposit from, or withdrawal to, the outside world."""

    model_config = ConfigDict(extra="forbid")

    user: StrictStr = Field(min_length=1, max_length=254, description="User id or email")
    amount: StrictInt = Field(description="Minor units of `currency`; > 0")
    currency: StrictStr = Field(pattern=CURRENCY_PATTERN)
    reason: StrictStr = REASON_FIELD
    memo: StrictStr | None = MEMO_FIELD


class ReversalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: StrictStr = REASON_FIELD
    memo: StrictStr | None = MEMO_FIELD


class AdminUserOut(UserOut):
    wallets: list[WalletOut]


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None


class Violation(BaseModel):
    invariant: str
    subject: str
    detail: str


class CurrencyTotals(BaseModel):
    currency: str
    wallets_total: int = Field(description="Sum of user wallet balances, minor units")
    deposits: int = Field(description="Money that came in from the outside world, minor units")
    withdrawals: int = Field(description="Money that went out to the outside world, minor units")


class FxPosition(BaseModel):
    currency: str
    house: int = Field(
        description="The FX house wallet's balance: bought minus paid out, minor units (may be < 0)"
    )
    revenue: int = Field(description="What the FX spread earned in this currency, minor units")


class AuditReport(BaseModel):
    ok: bool
    checked_at: datetime
    violations: list[Violation]
    totals: list[CurrencyTotals]
    fx_positions: list[FxPosition] = Field(
        description="Per currency that FX touched: the house's position and the revenue"
    )
    counts: dict[str, int]


class AuditLogOut(BaseModel):
    id: uuid.UUID
    actor_id: uuid.UUID | None = Field(description="The operator; null for an action taken at the console")
    actor_email: str = Field(description="The operator's email, or `gopherpayd (console, OS user …)`")
    action: str
    target: str
    reason: str
    details: dict[str, Any]
    created_at: datetime


class AuditLogPage(BaseModel):
    items: list[AuditLogOut]
    next_cursor: str | None
