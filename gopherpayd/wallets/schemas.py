"""Request and response bodies for wallets and currencies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr, computed_field

CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class OpenWalletRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: StrictStr = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. USD")


class WalletOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    currency: str
    balance: int = Field(description="Minor units (cents for USD): the posted balance, as `posted`")
    held: int = Field(description="Minor units of the balance that open holds reserve")
    frozen: bool
    created_at: datetime
    closed_at: datetime | None

    @computed_field(description="Minor units posted: every entry of the wallet (same as `balance`)")  # type: ignore[prop-decorator]
    @property
    def posted(self) -> int:
        return self.balance

    @computed_field(description="Minor units the owner may spend now: posted - held")  # type: ignore[prop-decorator]
    @property
    def available(self) -> int:
        return self.balance - self.held


class WalletList(BaseModel):
    items: list[WalletOut]
    next_cursor: str | None


class CurrencyOut(BaseModel):
    code: str
    exponent: int
    name: str


class CurrencyList(BaseModel):
    items: list[CurrencyOut]
    next_cursor: str | None
