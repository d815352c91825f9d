"""FX: the operators' exchange rates and the locked quotes

Revision ID: 20261203_0008
Revises: 20261202_0007
Create Date: 2026-12-03

`fx_rates` holds the current rate of each currency pair and direction (one row per pair,
uq_fx_rates_pair): the rate and spread as exact decimal text, how long it quotes, who set it
(an operator, or the rates file). `fx_quotes` holds each quote a customer asked for: both
amounts and the fee in minor units, the rate and spread locked, when it expires, and, once
a movement consumed it, when and which transfer (NULL until then; ck_fx_quotes_used_by_a_
transfer keeps the two together). Downgrading drops both tables: rates and quotes are lost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0008"
down_revision: str | None = "20261202_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("spread", sa.String(length=40), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sell_currency <> buy_currency", name="ck_fx_rates_two_currencies"),
        sa.CheckConstraint("source IN ('operator', 'file')", name="ck_fx_rates_source"),
        sa.ForeignKeyConstraint(["set_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sell_currency", "buy_currency", name="uq_fx_rates_pair"),
    )
    op.create_table(
        "fx_quotes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("sell_currency", sa.String(length=3), nullable=False),
        sa.Column("buy_currency", sa.String(length=3), nullable=False),
        sa.Column("sell_amount", sa.BigInteger(), nullable=False),
        sa.Column("buy_amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("spread", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transfer_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("sell_currency <> buy_currency", name="ck_fx_quotes_two_currencies"),
        sa.CheckConstraint("sell_amount > 0 AND buy_amount > 0", name="ck_fx_quotes_amounts_positive"),
        sa.CheckConstraint("fee >= 0 AND fee < sell_amount", name="ck_fx_quotes_fee_within_sell_amount"),
        sa.CheckConstraint("expires_at > created_at", name="ck_fx_quotes_expires_after_creation"),
        sa.CheckConstraint(
            "(used_at IS NULL) = (transfer_id IS NULL)", name="ck_fx_quotes_used_by_a_transfer"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fx_quotes_user_created", "fx_quotes", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fx_quotes_user_created", table_name="fx_quotes")
    op.drop_table("fx_quotes")
    op.drop_table("fx_rates")
