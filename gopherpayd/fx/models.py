"""Tables: the operators' exchange rates and the locked FX quotes."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, minor_units_field, timestamp_field

FROM_OPERATOR, FROM_FILE = "operator", "file"
"""Where a rate came from (fx_rates.source)."""
DECIMAL_TEXT_LENGTH = 40


class FxRate(SQLModel, table=True):
    """The current rate of one currency pair, one direction. Changes are in the audit log."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        UniqueConstraint("sell_currency", "buy_currency", name="uq_fx_rates_pair"),
        CheckConstraint("sell_currency <> buy_currency", name="ck_fx_rates_two_currencies"),
        CheckConstraint("source IN ('operator', 'file')", name="ck_fx_rates_source"),
    )

    id: uuid.UUID = id_field()
    sell_currency: str = Field(min_length=3, max_length=3)
    buy_currency: str = Field(min_length=3, max_length=3)
    rate: str = Field(sa_type=String(DECIMAL_TEXT_LENGTH))
    """Buy-currency major units one sell-currency major unit buys, as exact decimal text
    (`0.9213`): text keeps every digit on both backends, and no float ever reads it."""
    spread: str = Field(sa_type=String(DECIMAL_TEXT_LENGTH))
    """The house's spread as an exact decimal fraction in [0, 0.5) (`0.005` is 0.5 %)."""
    valid_until: datetime | None = timestamp_field(nullable=True)
    """After this the rate quotes nothing; NULL: until replaced."""
    source: str = Field(default="operator", max_length=10)
    """operator: set through the API; file: read from GOPHERPAY_FX_RATES_FILE at start-up."""
    set_by: uuid.UUID | None = fk_field("users.id", nullable=True)
    """The operator; NULL for the rates file."""
    set_at: datetime = timestamp_field()


class FxQuote(SQLModel, table=True):
    """A rate locked for one customer until expires_at, consumed at most once (used_at)."""

    __tablename__ = "fx_quotes"
    __table_args__ = (
        CheckConstraint("sell_currency <> buy_currency", name="ck_fx_quotes_two_currencies"),
        CheckConstraint("sell_amount > 0 AND buy_amount > 0", name="ck_fx_quotes_amounts_positive"),
        CheckConstraint("fee >= 0 AND fee < sell_amount", name="ck_fx_quotes_fee_within_sell_amount"),
        CheckConstraint("expires_at > created_at", name="ck_fx_quotes_expires_after_creation"),
        CheckConstraint("(used_at IS NULL) = (transfer_id IS NULL)", name="ck_fx_quotes_used_by_a_transfer"),
        Index("ix_fx_quotes_user_created", "user_id", "created_at"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = fk_field("users.id")
    """The customer the quote was made for; only they can use it."""
    sell_currency: str = Field(min_length=3, max_length=3)
    buy_currency: str = Field(min_length=3, max_length=3)
    sell_amount: int = minor_units_field()
    """Sell minor units the customer pays in all (exchanged part + fee); > 0."""
    buy_amount: int = minor_units_field()
    """Buy minor units the recipient receives from the FX house; > 0."""
    fee: int = minor_units_field()
    """Sell minor units of sell_amount that go to the revenue wallet (the spread); >= 0."""
    rate: str = Field(sa_type=String(DECIMAL_TEXT_LENGTH))
    """The rate locked, exact decimal text, as in fx_rates."""
    spread: str = Field(sa_type=String(DECIMAL_TEXT_LENGTH))
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = timestamp_field(nullable=True)
    """When a movement consumed the quote; NULL while unused. Set once, by consume_quote."""
    transfer_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, nullable=True)
    """The transfer (or exchange) that consumed it. No foreign key: the writer may consume the
    quote before it inserts the transfer, in the same transaction."""
