"""Email skeletons: refuse a new address that looks like an existing account's

Revision ID: 20261202_0005
Revises: 20261202_0004
Create Date: 2026-12-02

`users.email_skeleton` is the address with look-alike characters replaced by what
they pass for (`gopherpayd.identity.emails.email_skeleton`), indexed so that sign-up
refuses a look-alike of an existing account with one lookup. Existing rows are
filled in from their email. Not unique: accounts made before this migration may
already share a skeleton, and both keep working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gopherpayd.identity.emails import email_skeleton

revision: str = "20261202_0005"
down_revision: str | None = "20261202_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_skeleton", sa.String(length=254), nullable=True))
    users = sa.table(
        "users", sa.column("id", sa.Uuid()), sa.column("email", sa.String()), sa.column("email_skeleton")
    )
    bind = op.get_bind()
    for user_id, email in bind.execute(sa.select(users.c.id, users.c.email)).all():
        bind.execute(users.update().where(users.c.id == user_id).values(email_skeleton=email_skeleton(email)))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email_skeleton", existing_type=sa.String(length=254), nullable=False)
        batch_op.create_index("ix_users_email_skeleton", ["email_skeleton"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_email_skeleton")
        batch_op.drop_column("email_skeleton")
