"""Request and response bodies for wallets and currencies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from gopherpayd.wallets.models import Wallet

CURRENCY_PATTERN = r"^[A-Za-z]{3}$"


class OpenWalletRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: StrictStr = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code, e.g. USD")


class WalletOut(BaseModel):
    id: uuid.UUID
    currency: str
    balance: int = Field(description="Minor units (cents for USD)")
    frozen: bool
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        return cls(
            id=wallet.id,
            currency=wallet.currency,
            balance=wallet.balance,
            frozen=wallet.frozen,
            created_at=wallet.created_at,
            closed_at=wallet.closed_at,
        )


class WalletList(BaseModel):
    items: list[WalletOut]


class CurrencyOut(BaseModel):
    code: str
    exponent: int
    name: str


class CurrencyList(BaseModel):
    items: list[CurrencyOut]
