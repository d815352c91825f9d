"""Tables: transfers, their double-entry lines, and idempotency records."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from gopherpayd.kit.models import fk_field, id_field, minor_units_field, timestamp_field
from gopherpayd.vocabulary import HoldStatus, TransferKind, one_of

MAX_MEMO_LENGTH = 280


class Transfer(SQLModel, table=True):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_transfers_amount_positive"),
        CheckConstraint(one_of("kind", TransferKind), name="ck_transfers_kind"),
        CheckConstraint("from_wallet_id <> to_wallet_id", name="ck_transfers_distinct_wallets"),
        Index("ix_transfers_created", "created_at", "id"),
    )

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=12)
    amount: int = minor_units_field()
    """Minor units of `currency` moved from `from_wallet_id` to `to_wallet_id`; always > 0."""
    currency: str = Field(min_length=3, max_length=3)
    from_wallet_id: uuid.UUID = fk_field("wallets.id", index=True)
    to_wallet_id: uuid.UUID = fk_field("wallets.id", index=True)
    memo: str | None = Field(default=None, max_length=MAX_MEMO_LENGTH)
    initiated_by: uuid.UUID | None = fk_field("users.id", nullable=True)
    reverses_transfer_id: uuid.UUID | None = Field(
        default=None, foreign_key="transfers.id", unique=True, nullable=True
    )
    quote_id: uuid.UUID | None = Field(default=None, foreign_key="fx_quotes.id", unique=True, nullable=True)
    """The FX quote an exchange or fx_transfer executed (each quote at most one transfer); NULL
    for every other kind. Its entries are the quote's legs, in two currencies (fx.legs)."""
    created_at: datetime = timestamp_field()


class Entry(SQLModel, table=True):
    """One line of a transfer: a signed change to one wallet's balance."""

    __tablename__ = "entries"
    __table_args__ = (CheckConstraint("amount <> 0", name="ck_entries_amount_nonzero"),)

    id: uuid.UUID = id_field()
    transfer_id: uuid.UUID = fk_field("transfers.id", index=True)
    wallet_id: uuid.UUID = fk_field("wallets.id", index=True)
    amount: int = minor_units_field()
    """Minor units, signed from the wallet's side: negative debits it, positive credits it."""
    currency: str = Field(min_length=3, max_length=3)
    created_at: datetime = timestamp_field()


class IdempotencyRecord(SQLModel, table=True):
    """The outcome of a money-moving request, kept under the caller's key forever."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),)

    id: uuid.UUID = id_field()
    scope: str = Field(max_length=100)
    """Who owns the key: the caller's user id plus the operation."""
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int
    """The outcome's status: 201, or the refusal's. Written once, with the outcome, in the
    transaction that decided it: a concurrent request with the same key waits on the unique
    index, and when the first commits its transaction fails and reruns as a replay."""
    response_body: str = Field(sa_type=Text)
    """The outcome as JSON: see gopherpayd.transfers.idempotency."""
    created_at: datetime = timestamp_field()


class Hold(SQLModel, table=True):
    """Money reserved in the payer's wallet for a payee, captured into transfers or released."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_holds_amount_positive"),
        CheckConstraint("captured >= 0", name="ck_holds_captured_non_negative"),
        CheckConstraint("released >= 0", name="ck_holds_released_non_negative"),
        CheckConstraint("captured + released <= amount", name="ck_holds_settled_within_amount"),
        CheckConstraint(
            f"status = '{HoldStatus.OPEN}' OR captured + released = amount", name="ck_holds_closed_is_settled"
        ),
        CheckConstraint(one_of("status", HoldStatus), name="ck_holds_status"),
        CheckConstraint("payer_wallet_id <> payee_wallet_id", name="ck_holds_distinct_wallets"),
        Index("ix_holds_status_expires", "status", "expires_at"),
        Index("ix_holds_created", "created_at", "id"),
    )

    id: uuid.UUID = id_field()
    payer_wallet_id: uuid.UUID = fk_field("wallets.id", index=True)
    payee_wallet_id: uuid.UUID = fk_field("wallets.id", index=True)
    currency: str = Field(min_length=3, max_length=3)
    amount: int = minor_units_field()
    """Minor units of `currency` the hold reserved when placed; > 0."""
    captured: int = minor_units_field()
    """Minor units captured so far, each capture a transfer payer -> payee; >= 0."""
    released: int = minor_units_field()
    """Minor units given back to the payer's available balance (void, decline, expiry); >= 0."""
    status: str = Field(max_length=10)
    expires_at: datetime = timestamp_field()
    """The last moment a capture is accepted; later, the hold is expired whether swept or not."""
    memo: str | None = Field(default=None, max_length=MAX_MEMO_LENGTH)
    created_by: uuid.UUID = fk_field("users.id")
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
