"""Request and response bodies for transfers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, StrictStr, model_validator

from gopherpayd.transfers.models import MAX_MEMO_LENGTH
from gopherpayd.vocabulary import TransferKind
from gopherpayd.wallets.schemas import CURRENCY_PATTERN


class TransferRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(description="Minor units of `currency` (cents for USD); > 0")
    currency: StrictStr = Field(pattern=CURRENCY_PATTERN)
    to_email: EmailStr | None = Field(default=None, max_length=254)
    to_wallet_id: uuid.UUID | None = None
    memo: StrictStr | None = Field(default=None, max_length=MAX_MEMO_LENGTH)

    @model_validator(mode="after")
    def _one_recipient(self) -> TransferRequestBody:
        if (self.to_email is None) == (self.to_wallet_id is None):
            raise ValueError("give exactly one of to_email or to_wallet_id")
        return self


class PartyOut(BaseModel):
    wallet_id: uuid.UUID
    user_id: uuid.UUID | None
    email: str | None
    full_name: str | None
    system: bool


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


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None
