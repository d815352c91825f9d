"""Identity hardening: login attempts and operator actions

Revision ID: 20261202_0004
Revises: 20261202_0003
Create Date: 2026-12-02

- `login_failures` is counted per account and address (backoff), per address and per
  account, so it keeps the account and the address apart instead of one `scope`
  string. Its rows only matter for the throttle window (minutes), so they are
  dropped rather than converted, both ways.
- `signup_attempts` counts sign-ups per client address.
- `audit_log.actor_id` may be NULL: an action taken with `gopherpayd` at the
  console (create-admin, set-role) has no logged-in operator; its details say
  who ran it. Downgrading hands such rows to the account they acted on.
- Verification codes left in clear in the outbox and dead letters by earlier
  versions are removed (codes are sealed from now on).
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0004"
down_revision: str | None = "20261202_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_scope_created")
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_account_created", ["account", "created_at"], unique=False)
        batch_op.create_index("ix_login_failures_address_created", ["address", "created_at"], unique=False)

    op.create_table(
        "signup_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signup_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_signup_attempts_address_created", ["address", "created_at"], unique=False)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("actor_id", existing_type=sa.Uuid(), nullable=True)
    _redact_plaintext_codes()


def _redact_plaintext_codes() -> None:
    """Verification events written before codes were sealed held the code in clear: drop it
    from the outbox and from parked dead letters. Such codes expire within a day anyway; a
    user still waiting for one asks for a new one. Not undone by the downgrade."""
    bind = op.get_bind()
    outbox = sa.table("outbox", sa.column("id", sa.Uuid()), sa.column("event_type"), sa.column("payload"))
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(outbox.c.event_type == "user.email_verification")
    ).all()
    for row_id, payload in rows:
        data = json.loads(payload)
        if isinstance(data, dict) and data.pop("code", None) is not None:
            bind.execute(outbox.update().where(outbox.c.id == row_id).values(payload=json.dumps(data)))
    letters = sa.table(
        "dead_letters", sa.column("id", sa.Uuid()), sa.column("event_type"), sa.column("message")
    )
    parked = bind.execute(
        sa.select(letters.c.id, letters.c.message).where(letters.c.event_type == "user.email_verification")
    ).all()
    for row_id, message in parked:
        envelope = json.loads(message)
        inner = envelope.get("payload") if isinstance(envelope, dict) else None
        if isinstance(inner, dict) and inner.pop("code", None) is not None:
            bind.execute(letters.update().where(letters.c.id == row_id).values(message=json.dumps(envelope)))


def downgrade() -> None:
    audit_log = sa.table(
        "audit_log",
        sa.column("id", sa.Uuid()),
        sa.column("actor_id", sa.Uuid()),
        sa.column("target", sa.String()),
    )
    bind = op.get_bind()
    console_rows = bind.execute(
        sa.select(audit_log.c.id, audit_log.c.target).where(audit_log.c.actor_id.is_(None))
    ).all()
    for row_id, target in console_rows:
        kind, _, ref = str(target).partition(":")
        row = audit_log.c.id == row_id
        if kind == "user":
            bind.execute(sa.update(audit_log).where(row).values(actor_id=uuid.UUID(ref)))
        else:
            bind.execute(sa.delete(audit_log).where(row))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("actor_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("signup_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_signup_attempts_address_created")
    op.drop_table("signup_attempts")

    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_address_created")
        batch_op.drop_index("ix_login_failures_account_created")
    op.drop_table("login_failures")
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_scope_created", ["scope", "created_at"], unique=False)
