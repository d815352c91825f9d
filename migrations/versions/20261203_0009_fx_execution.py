"""FX execution: the FX house and revenue wallets, and transfers that execute a quote

Revision ID: 20261203_0009
Revises: 20261203_0008
Create Date: 2026-12-03

Two wallet kinds join `user` and `system`, neither with an owner: `fx_house` (one per
currency, the house's position: it may go below zero, like the system wallet) and
`fx_revenue` (one per currency, the fees: never below zero); uq_wallets_fx_kind_currency keeps
one of each per currency. Two transfer kinds join the others: `exchange` (between one's own
wallets) and `fx_transfer` (to another user, received in another currency). A transfer that
executes a quote names it in `quote_id` (unique: a quote is executed at most once; a foreign
key to fx_quotes). Downgrading refuses while FX wallets or FX transfers exist: they have no
meaning without this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_0009"
down_revision: str | None = "20261203_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_WALLET_CHECKS = {
    "ck_wallets_kind": "kind IN ('user', 'system')",
    "ck_wallets_system_has_no_owner": "(kind = 'system') = (owner_id IS NULL)",
    "ck_wallets_user_balance_non_negative": "kind = 'system' OR balance >= 0",
    "ck_wallets_user_held_within_balance": "kind = 'system' OR balance - held >= 0",
}
NEW_WALLET_CHECKS = {
    "ck_wallets_kind": "kind IN ('user', 'system', 'fx_house', 'fx_revenue')",
    "ck_wallets_system_has_no_owner": "(kind = 'user') = (owner_id IS NOT NULL)",
    "ck_wallets_user_balance_non_negative": "kind IN ('system', 'fx_house') OR balance >= 0",
    "ck_wallets_user_held_within_balance": "kind IN ('system', 'fx_house') OR balance - held >= 0",
}
OLD_TRANSFER_KINDS = "kind IN ('transfer', 'deposit', 'withdrawal', 'reversal')"
NEW_TRANSFER_KINDS = "kind IN ('transfer', 'deposit', 'withdrawal', 'reversal', 'exchange', 'fx_transfer')"
FX_WALLETS = "kind IN ('fx_house', 'fx_revenue')"


def _replace_checks(table: str, checks: dict[str, str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name in checks:
            batch_op.drop_constraint(name, type_="check")
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, condition in checks.items():
            batch_op.create_check_constraint(name, condition)


def upgrade() -> None:
    _replace_checks("wallets", NEW_WALLET_CHECKS)
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(
            "uq_wallets_fx_kind_currency",
            ["kind", "currency"],
            unique=True,
            sqlite_where=sa.text(FX_WALLETS),
            postgresql_where=sa.text(FX_WALLETS),
        )
    _replace_checks("transfers", {"ck_transfers_kind": NEW_TRANSFER_KINDS})
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quote_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint("uq_transfers_quote_id", ["quote_id"])
        batch_op.create_foreign_key("fk_transfers_quote_id", "fx_quotes", ["quote_id"], ["id"])


def downgrade() -> None:
    bind = op.get_bind()
    count = (
        f"SELECT (SELECT COUNT(*) FROM wallets WHERE {FX_WALLETS})"  # noqa: S608 - fixed SQL
        " + (SELECT COUNT(*) FROM transfers WHERE quote_id IS NOT NULL)"
    )
    fx_rows = bind.execute(sa.text(count)).scalar_one()
    if fx_rows:
        raise RuntimeError(
            "cannot downgrade below 20261203_0009: FX wallets or FX transfers exist, and the older "
            "schema has no place for them"
        )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_transfers_quote_id", type_="foreignkey")
        batch_op.drop_constraint("uq_transfers_quote_id", type_="unique")
        batch_op.drop_column("quote_id")
    _replace_checks("transfers", {"ck_transfers_kind": OLD_TRANSFER_KINDS})
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index("uq_wallets_fx_kind_currency")
    _replace_checks("wallets", OLD_WALLET_CHECKS)
