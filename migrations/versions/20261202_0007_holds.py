"""Holds: money reserved now and settled later (two-phase transfers)

Revision ID: 20261202_0007
Revises: 20261202_0006
Create Date: 2026-12-02

`wallets.held` is the part of a wallet's balance (its posted money) that open holds
reserve: `available = balance - held`. CHECKs hold it to `held >= 0` and, for user
wallets, `balance - held >= 0`. `holds` has one row per hold: what it reserves
(`amount`), what was captured into real transfers and what was released, its status
and its expiry; CHECKs hold `captured + released <= amount`, and a hold that is no
longer open has nothing left.

On Postgres a deferred constraint trigger checks at commit that each touched wallet's
`held` equals what its open holds still reserve. SQLite has no deferred triggers: there
`gopherpay admin audit` looks for such wallets (it does on Postgres too).

Downgrading drops the holds and the column: reserved money becomes available again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0007"
down_revision: str | None = "20261202_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_HELD_TRIGGERS = [
    """
    CREATE FUNCTION gp_check_wallet_held() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE
        wallet uuid;
        recorded bigint;
        reserved bigint;
    BEGIN
        IF TG_TABLE_NAME = 'holds' THEN
            wallet := NEW.payer_wallet_id;
        ELSE
            wallet := NEW.id;
        END IF;
        SELECT held INTO recorded FROM wallets WHERE id = wallet;
        SELECT COALESCE(SUM(amount - captured - released), 0) INTO reserved
        FROM holds WHERE payer_wallet_id = wallet AND status = 'open';
        IF recorded <> reserved THEN
            RAISE EXCEPTION 'wallet % holds % but its open holds reserve %', wallet, recorded, reserved
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'trg_wallets_held_matches_holds';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER trg_wallets_held_matches_holds
    AFTER UPDATE OF held ON wallets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.held IS DISTINCT FROM NEW.held)
    EXECUTE FUNCTION gp_check_wallet_held()
    """,
    """
    CREATE CONSTRAINT TRIGGER trg_holds_match_wallet_held
    AFTER INSERT OR UPDATE ON holds
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION gp_check_wallet_held()
    """,
]
POSTGRES_HELD_TRIGGERS_DOWN = [
    "DROP TRIGGER IF EXISTS trg_holds_match_wallet_held ON holds",
    "DROP TRIGGER IF EXISTS trg_wallets_held_matches_holds ON wallets",
    "DROP FUNCTION IF EXISTS gp_check_wallet_held()",
]


def upgrade() -> None:
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_check_constraint("ck_wallets_held_non_negative", "held >= 0")
        batch_op.create_check_constraint(
            "ck_wallets_user_held_within_balance", "kind = 'system' OR balance - held >= 0"
        )
    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payer_wallet_id", sa.Uuid(), nullable=False),
        sa.Column("payee_wallet_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("memo", sa.String(length=280), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_holds_amount_positive"),
        sa.CheckConstraint("captured >= 0", name="ck_holds_captured_non_negative"),
        sa.CheckConstraint("released >= 0", name="ck_holds_released_non_negative"),
        sa.CheckConstraint("captured + released <= amount", name="ck_holds_settled_within_amount"),
        sa.CheckConstraint(
            "status = 'open' OR captured + released = amount", name="ck_holds_closed_is_settled"
        ),
        sa.CheckConstraint(
            "status IN ('open', 'captured', 'voided', 'declined', 'expired')", name="ck_holds_status"
        ),
        sa.CheckConstraint("payer_wallet_id <> payee_wallet_id", name="ck_holds_distinct_wallets"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["payee_wallet_id"], ["wallets.id"]),
        sa.ForeignKeyConstraint(["payer_wallet_id"], ["wallets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index("ix_holds_payer_wallet_id", ["payer_wallet_id"], unique=False)
        batch_op.create_index("ix_holds_payee_wallet_id", ["payee_wallet_id"], unique=False)
        batch_op.create_index("ix_holds_status_expires", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_holds_created", ["created_at", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_HELD_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_HELD_TRIGGERS_DOWN:
            op.execute(statement)
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_created")
        batch_op.drop_index("ix_holds_status_expires")
        batch_op.drop_index("ix_holds_payee_wallet_id")
        batch_op.drop_index("ix_holds_payer_wallet_id")
    op.drop_table("holds")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_constraint("ck_wallets_user_held_within_balance", type_="check")
        batch_op.drop_constraint("ck_wallets_held_non_negative", type_="check")
        batch_op.drop_column("held")
