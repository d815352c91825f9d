"""Core ledger: users, sessions, wallets, transfers, entries, idempotency, outbox, audit log

Revision ID: 20261126_0001
Revises: (none)
Create Date: 2026-11-26 16:38:13.390826
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261126_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# On Postgres the ledger's invariants get a database twin that SQLite cannot
# express: a deferred constraint trigger that every transfer's entries sum to
# zero per currency at commit, and history that cannot be edited or deleted.
POSTGRES_LEDGER_TRIGGERS = [
    """
    CREATE FUNCTION gp_check_transfer_entries_balanced() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM entries WHERE transfer_id = NEW.transfer_id
            GROUP BY currency HAVING SUM(amount) <> 0
        ) THEN
            RAISE EXCEPTION 'transfer % entries do not sum to zero', NEW.transfer_id
                USING ERRCODE = 'check_violation',
                      CONSTRAINT = 'trg_entries_sum_to_zero';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER trg_entries_sum_to_zero
    AFTER INSERT OR UPDATE ON entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION gp_check_transfer_entries_balanced()
    """,
    """
    CREATE FUNCTION gp_refuse_history_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% rows are history: they are never updated or deleted', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    """
    CREATE TRIGGER trg_entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION gp_refuse_history_change()
    """,
    """
    CREATE TRIGGER trg_transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION gp_refuse_history_change()
    """,
]
POSTGRES_LEDGER_TRIGGERS_DOWN = [
    "DROP TRIGGER IF EXISTS trg_transfers_append_only ON transfers",
    "DROP TRIGGER IF EXISTS trg_entries_append_only ON entries",
    "DROP FUNCTION IF EXISTS gp_refuse_history_change()",
    "DROP TRIGGER IF EXISTS trg_entries_sum_to_zero ON entries",
    "DROP FUNCTION IF EXISTS gp_check_transfer_entries_balanced()",
]


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_scope_created", ["scope", "created_at"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("aggregate_key", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_unpublished",
            ["created_at"],
            unique=False,
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('user', 'admin')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_email"), ["email"], unique=True)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_created", ["created_at", "id"], unique=False)

    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=50), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "wallets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(kind = 'system') = (owner_id IS NULL)", name="ck_wallets_system_has_no_owner"),
        sa.CheckConstraint("kind = 'system' OR balance >= 0", name="ck_wallets_user_balance_non_negative"),
        sa.CheckConstraint("kind IN ('user', 'system')", name="ck_wallets_kind"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallets_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "uq_wallets_open_user_currency",
            ["owner_id", "currency"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL AND kind = 'user'"),
            postgresql_where=sa.text("closed_at IS NULL AND kind = 'user'"),
        )
        batch_op.create_index(
            "uq_wallets_system_currency",
            ["currency"],
            unique=True,
            sqlite_where=sa.text("kind = 'system'"),
            postgresql_where=sa.text("kind = 'system'"),
        )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False)

    op.create_table(
        "transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("from_wallet_id", sa.Uuid(), nullable=False),
        sa.Column("to_wallet_id", sa.Uuid(), nullable=False),
        sa.Column("memo", sa.String(length=280), nullable=True),
        sa.Column("initiated_by", sa.Uuid(), nullable=True),
        sa.Column("reverses_transfer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('transfer', 'deposit', 'withdrawal', 'reversal')", name="ck_transfers_kind"
        ),
        sa.CheckConstraint("amount > 0", name="ck_transfers_amount_positive"),
        sa.CheckConstraint("from_wallet_id <> to_wallet_id", name="ck_transfers_distinct_wallets"),
        sa.ForeignKeyConstraint(
            ["from_wallet_id"],
            ["wallets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["initiated_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reverses_transfer_id"],
            ["transfers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_wallet_id"],
            ["wallets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_transfer_id"),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index("ix_transfers_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfers_from_wallet_id"), ["from_wallet_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfers_to_wallet_id"), ["to_wallet_id"], unique=False)

    op.create_table(
        "entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name="ck_entries_amount_nonzero"),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entries_transfer_id"), ["transfer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entries_wallet_id"), ["wallet_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_LEDGER_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_LEDGER_TRIGGERS_DOWN:
            op.execute(statement)
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entries_wallet_id"))
        batch_op.drop_index(batch_op.f("ix_entries_transfer_id"))

    op.drop_table("entries")
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfers_to_wallet_id"))
        batch_op.drop_index(batch_op.f("ix_transfers_from_wallet_id"))
        batch_op.drop_index("ix_transfers_created")

    op.drop_table("transfers")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_wallets_system_currency",
            sqlite_where=sa.text("kind = 'system'"),
            postgresql_where=sa.text("kind = 'system'"),
        )
        batch_op.drop_index(
            "uq_wallets_open_user_currency",
            sqlite_where=sa.text("closed_at IS NULL AND kind = 'user'"),
            postgresql_where=sa.text("closed_at IS NULL AND kind = 'user'"),
        )
        batch_op.drop_index(batch_op.f("ix_wallets_owner_id"))

    op.drop_table("wallets")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_user_id"))

    op.drop_table("sessions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_created")

    op.drop_table("audit_log")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_email"))

    op.drop_table("users")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_unpublished",
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_scope_created")

    op.drop_table("login_failures")
    op.drop_table("idempotency_keys")
