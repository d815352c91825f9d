"""Ledger hardening: closed wallets hold nothing

Revision ID: 20261202_0003
Revises: 20261126_0002
Create Date: 2026-12-02

Before this revision a transfer could credit a wallet that was being closed on
Postgres. Such wallets, if any, keep their money where their owner no longer sees
it: the CHECK is then added NOT VALID (it binds every new write, the old rows stay
as they are) and `gopherpay admin audit` names each of them as a violation of
`closed_wallet_is_empty` for an operator to settle. SQLite serialized its writers,
so it never had such rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0003"
down_revision: str | None = "20261126_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_wallets_closed_is_empty"
CONDITION = "closed_at IS NULL OR balance = 0"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("wallets", schema=None) as batch_op:
            batch_op.create_check_constraint(CONSTRAINT, CONDITION)
        return
    op.execute(f"ALTER TABLE wallets ADD CONSTRAINT {CONSTRAINT} CHECK ({CONDITION}) NOT VALID")
    query = f"SELECT COUNT(*) FROM wallets WHERE NOT ({CONDITION})"  # noqa: S608 - fixed SQL
    stranded = bind.execute(sa.text(query)).scalar_one()
    if stranded == 0:
        op.execute(f"ALTER TABLE wallets VALIDATE CONSTRAINT {CONSTRAINT}")


def downgrade() -> None:
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_constraint(CONSTRAINT, type_="check")
