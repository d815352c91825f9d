"""Request and response bodies for rates and quotes. Rates and spreads travel as decimal
strings (`"0.9213"`), never as JSON numbers, so no client reads them as floats."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from gopherpayd.fx.rounding import MAX_AMOUNT_MINOR, MAX_TEXT_LENGTH
from gopherpayd.wallets.schemas import CURRENCY_PATTERN

MAX_RATE_VALIDITY = 366 * 86_400


class SetRateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sell: StrictStr = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code of the currency sold")
    buy: StrictStr = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code of the currency bought")
    rate: StrictStr = Field(
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        description="Buy major units one sell major unit buys, a decimal string: > 0, at most "
        "12 decimals and 18 digits",
    )
    spread: StrictStr = Field(
        default="0",
        min_length=1,
        max_length=MAX_TEXT_LENGTH,
        description="The house's spread, a decimal string: a fraction in [0, 0.5) (`0.005`) "
        "or a percentage (`0.5%`)",
    )
    valid_seconds: StrictInt | None = Field(
        default=None, ge=1, le=MAX_RATE_VALIDITY, description="Seconds the rate quotes; none: until replaced"
    )
    reason: StrictStr | None = Field(
        default=None, min_length=1, max_length=500, description="Why; kept in the operators' audit log"
    )


class RateOut(BaseModel):
    sell: str
    buy: str
    rate: str = Field(description="Decimal string: buy major units per sell major unit")
    spread: str = Field(description="Decimal string: the spread as a fraction (0.005 is 0.5 %)")
    valid_until: datetime | None
    source: str = Field(description="operator, or file (GOPHERPAY_FX_RATES_FILE)")
    set_at: datetime


class AdminRateOut(RateOut):
    set_by: uuid.UUID | None = Field(description="The operator; null for the rates file")
    valid: bool = Field(description="Whether the rate quotes now (false once valid_until has passed)")


class RateList(BaseModel):
    indicative: bool = Field(
        default=True, description="Rates to look at; only a quote (POST /v1/fx/quotes) locks one"
    )
    items: list[RateOut]


class AdminRateList(BaseModel):
    items: list[AdminRateOut]


class QuoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sell: StrictStr = Field(pattern=CURRENCY_PATTERN, description="The currency the customer pays in")
    buy: StrictStr = Field(pattern=CURRENCY_PATTERN, description="The currency the recipient receives")
    sell_amount: StrictInt | None = Field(
        default=None, ge=1, le=MAX_AMOUNT_MINOR, description="Minor units of `sell` to pay in all"
    )
    buy_amount: StrictInt | None = Field(
        default=None, ge=1, le=MAX_AMOUNT_MINOR, description="Minor units of `buy` to receive"
    )

    @model_validator(mode="after")
    def _one_side(self) -> QuoteRequest:
        if (self.sell_amount is None) == (self.buy_amount is None):
            raise ValueError("give exactly one of sell_amount and buy_amount")
        return self


class QuoteOut(BaseModel):
    quote_id: uuid.UUID
    sell: str
    buy: str
    sell_amount: int = Field(description="Minor units of `sell` the customer pays in all, fee included")
    buy_amount: int = Field(description="Minor units of `buy` the recipient receives")
    fee: int = Field(description="Minor units of `sell`, part of sell_amount: the spread")
    rate: str = Field(description="Decimal string: the rate locked")
    spread: str = Field(description="Decimal string: the spread as a fraction")
    created_at: datetime
    expires_at: datetime
