"""Request and response bodies for transfers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from gopherpayd.fx.terms import QuoteTerms
from gopherpayd.transfers.models import MAX_MEMO_LENGTH
from gopherpayd.vocabulary import HoldStatus, TransferKind
from gopherpayd.wallets.schemas import CURRENCY_PATTERN


class TransferRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(description="Minor units of `currency` (cents for USD); > 0")
    currency: StrictStr = Field(pattern=CURRENCY_PATTERN)
    to_email: EmailStr | None = Field(default=None, max_length=254)
    to_wallet_id: uuid.UUID | None = None
    memo: StrictStr | None = Field(default=None, max_length=MAX_MEMO_LENGTH)
    quote_id: uuid.UUID | None = Field(
        default=None,
        description="An FX quote of yours (POST /v1/fx/quotes) to pay with: the recipient receives its "
        "buy side. `amount` and `currency` must be the quote's sell side (sell_amount, sell). Not "
        "accepted in a batch.",
    )

    @model_validator(mode="after")
    def _one_recipient(self) -> TransferRequestBody:
        if (self.to_email is None) == (self.to_wallet_id is None):
            raise ValueError("give exactly one of to_email or to_wallet_id")
        return self


class ExchangeRequestBody(BaseModel):
    """Execute an FX quote between the caller's own wallets: its sell side leaves their wallet
    in `sell`, its buy side arrives in their wallet in `buy` (opened for them if need be)."""

    model_config = ConfigDict(extra="forbid")

    quote_id: uuid.UUID
    memo: StrictStr | None = Field(default=None, max_length=MAX_MEMO_LENGTH)


class PartyOut(BaseModel):
    wallet_id: uuid.UUID
    user_id: uuid.UUID | None
    email: str | None
    full_name: str | None
    system: bool


class FxOut(BaseModel):
    """The quote an exchange or fx_transfer executed: what was sold, what was bought."""

    quote_id: uuid.UUID
    sell: str
    sell_amount: int = Field(description="Minor units of `sell` the sender paid in all (fee included)")
    buy: str
    buy_amount: int = Field(description="Minor units of `buy` the recipient received")
    fee: int = Field(description="Minor units of `sell` that went to the FX revenue wallet (the spread)")
    rate: str = Field(description="The locked rate, exact decimal text: `buy` major units per `sell` one")
    spread: str

    @classmethod
    def of(cls, terms: QuoteTerms) -> FxOut:
        return cls(
            quote_id=terms.id,
            sell=terms.sell_currency,
            sell_amount=terms.sell_amount,
            buy=terms.buy_currency,
            buy_amount=terms.buy_amount,
            fee=terms.fee,
            rate=terms.rate,
            spread=terms.spread,
        )


class TransferOut(BaseModel):
    id: uuid.UUID
    kind: TransferKind
    amount: int = Field(description="Minor units of `currency`, always > 0")
    currency: str
    sender: PartyOut
    recipient: PartyOut
    memo: str | None
    reverses_transfer_id: uuid.UUID | None
    created_at: datetime
    direction: Literal["in", "out"] | None = Field(
        description="Relative to the caller; null when the caller is not a party"
    )
    fx: FxOut | None = Field(
        default=None,
        description="For an exchange or fx_transfer: the quote it executed (`amount` and `currency` "
        "are its sell side; the recipient received `fx.buy_amount` of `fx.buy`)",
    )


class FeeOut(BaseModel):
    amount: int = Field(description="Minor units of `currency` the sender pays on top, >= 0")
    currency: str


class MovementPreview(BaseModel):
    """What a money movement would do now (`?dry_run=true`): nothing was moved or stored."""

    dry_run: Literal[True] = True
    transfer: TransferOut = Field(
        description="The transfer as it would be; its `id` and `created_at` are never stored"
    )
    fee: FeeOut = Field(description="The fee it would cost (GopherPay charges none today)")


class StatementLine(BaseModel):
    transfer: TransferOut
    amount: int = Field(description="Minor units, signed from the caller's side: > 0 money in, < 0 money out")
    balance_after: int = Field(description="The caller's balance in minor units after this movement")


class StatementOut(BaseModel):
    """Every movement of the caller's money in one currency over a period, with the balances.

    `closing_balance = opening_balance + total_in - total_out`, and each line's
    `balance_after` is the previous one plus its signed `amount`.
    """

    currency: str
    since: datetime = Field(description="The period's first moment (included)")
    until: datetime = Field(description="The period's end (excluded)")
    opening_balance: int = Field(description="Minor units held just before `since`")
    total_in: int = Field(description="Minor units received in the period, >= 0")
    total_out: int = Field(description="Minor units sent in the period, as a number >= 0")
    closing_balance: int = Field(description="Minor units held at `until`")
    lines: list[StatementLine] = Field(description="Oldest first")


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None


MAX_BATCH_ITEMS = 1000
"""The most money movements one POST /v1/transfers/batch carries."""


class BatchMode(StrEnum):
    INDEPENDENT = "independent"
    """Each item moves or is refused on its own."""
    ATOMIC = "atomic"
    """All items move, or none does."""


class BatchItemIn(TransferRequestBody):
    """One movement of a batch: a transfer request and its own idempotency key."""

    key: StrictStr | None = Field(
        default=None,
        description="This item's idempotency key, scoped like the Idempotency-Key header of "
        "POST /v1/transfers: a key used there replays here and vice versa",
    )


_BATCH_ITEM_SCHEMA = BatchItemIn.model_json_schema()
"""Documents `items`, which are checked one by one (an invalid item refuses only itself)."""


class BatchRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: BatchMode = BatchMode.INDEPENDENT
    items: list[Annotated[dict[str, Any], WithJsonSchema(_BATCH_ITEM_SCHEMA)]] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description=f"1 to {MAX_BATCH_ITEMS} transfer requests, each with its own `key`; an item "
        "that is not valid on its own gets its problem in the results (in atomic mode, then "
        "nothing moves)",
    )


class BatchItemResult(BaseModel):
    index: int = Field(description="The item's position in `items`, from 0")
    key: str | None
    status: int = Field(description="201 when the money moved, else the refusal's HTTP status")
    replayed: bool = Field(description="The outcome an earlier request with this key got")
    transfer: TransferOut | None
    problem: dict[str, Any] | None = Field(description="RFC 9457 problem document of a refusal")


class BatchResult(BaseModel):
    mode: BatchMode
    results: list[BatchItemResult] = Field(description="One per item, in item order")


MAX_HOLD_SECONDS = 90 * 24 * 3600
"""The longest a hold may reserve money: 90 days from placing or extending it."""


class HoldRequestBody(BaseModel):
    """Reserve money for a payee now, to capture (all or part) or release later."""

    model_config = ConfigDict(extra="forbid")

    to: EmailStr = Field(max_length=254, description="The payee's email")
    amount: StrictInt = Field(description="Minor units of `currency` to reserve; > 0")
    currency: StrictStr = Field(pattern=CURRENCY_PATTERN)
    expires_at: datetime | None = Field(default=None, description="RFC 3339; the last moment of the hold")
    expires_in: StrictInt | None = Field(
        default=None, ge=1, le=MAX_HOLD_SECONDS, description="Seconds from now (instead of expires_at)"
    )
    memo: StrictStr | None = Field(default=None, max_length=MAX_MEMO_LENGTH)

    @model_validator(mode="after")
    def one_expiry(self) -> HoldRequestBody:
        if (self.expires_at is None) == (self.expires_in is None):
            raise ValueError("give exactly one of expires_at and expires_in")
        return self


class CaptureRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt | None = Field(
        default=None, description="Minor units to capture; left out: everything the hold has left"
    )


class ExtendRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: datetime | None = Field(default=None, description="RFC 3339; the new last moment")
    expires_in: StrictInt | None = Field(
        default=None, ge=1, le=MAX_HOLD_SECONDS, description="Seconds from now (instead of expires_at)"
    )

    @model_validator(mode="after")
    def one_expiry(self) -> ExtendRequestBody:
        if (self.expires_at is None) == (self.expires_in is None):
            raise ValueError("give exactly one of expires_at and expires_in")
        return self


class HoldOut(BaseModel):
    id: uuid.UUID
    status: HoldStatus
    amount: int = Field(description="Minor units reserved when the hold was placed")
    currency: str
    captured: int = Field(description="Minor units captured so far (each capture is a transfer)")
    released: int = Field(description="Minor units given back to the payer")
    remaining: int = Field(description="Minor units still held: amount - captured - released")
    expires_at: datetime
    memo: str | None
    payer: PartyOut
    payee: PartyOut
    created_at: datetime
    updated_at: datetime
    role: Literal["payer", "payee"] | None = Field(
        default=None, description="The caller's side of the hold; null for an operator who is neither"
    )
    capture: TransferOut | None = Field(
        default=None, description="In a capture's answer: the transfer this capture posted"
    )


class HoldPage(BaseModel):
    items: list[HoldOut]
    next_cursor: str | None
