"""SQL for operators: the ledger audit and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, text
from sqlmodel import Session, col, select

from gopherpayd.admin.models import AuditLogEntry
from gopherpayd.identity.models import User
from gopherpayd.kit.pagination import Cursor


def _rows(session: Session, sql: str) -> list[Any]:
    return list(session.connection().execute(text(sql)).all())


def wallets_not_matching_entries(session: Session) -> list[Any]:
    return _rows(
        session,
        """
        SELECT w.id, w.currency, w.balance, COALESCE(SUM(e.amount), 0) AS entries_total
        FROM wallets w LEFT JOIN entries e ON e.wallet_id = w.id
        GROUP BY w.id, w.currency, w.balance
        HAVING w.balance <> COALESCE(SUM(e.amount), 0)
        """,
    )


def unbalanced_transfers(session: Session) -> list[Any]:
    return _rows(
        session,
        """
        SELECT t.id, t.currency, COALESCE(SUM(e.amount), 0) AS total, COUNT(e.id) AS lines
        FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        GROUP BY t.id, t.currency
        HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) <> 2
        """,
    )


def entries_not_matching_transfer(session: Session) -> list[Any]:
    """Lines whose currency or wallet disagrees with their transfer."""
    return _rows(
        session,
        """
        SELECT e.id, e.transfer_id, e.currency, w.currency AS wallet_currency, t.currency AS transfer_currency
        FROM entries e JOIN transfers t ON t.id = e.transfer_id JOIN wallets w ON w.id = e.wallet_id
        WHERE e.currency <> t.currency OR w.currency <> t.currency
           OR (e.amount < 0 AND (e.wallet_id <> t.from_wallet_id OR -e.amount <> t.amount))
           OR (e.amount > 0 AND (e.wallet_id <> t.to_wallet_id OR e.amount <> t.amount))
        """,
    )


def negative_user_wallets(session: Session) -> list[Any]:
    return _rows(session, "SELECT id, currency, balance FROM wallets WHERE kind = 'user' AND balance < 0")


def currency_totals(session: Session) -> list[Any]:
    """Per currency: user wallets total, money in from and out to the system wallet."""
    return _rows(
        session,
        """
        SELECT c.currency,
          COALESCE((SELECT SUM(balance) FROM wallets WHERE kind = 'user' AND currency = c.currency), 0),
          COALESCE((SELECT SUM(t.amount) FROM transfers t JOIN wallets s ON s.id = t.from_wallet_id
                    WHERE s.kind = 'system' AND t.currency = c.currency), 0),
          COALESCE((SELECT SUM(t.amount) FROM transfers t JOIN wallets s ON s.id = t.to_wallet_id
                    WHERE s.kind = 'system' AND t.currency = c.currency), 0),
          COALESCE((SELECT SUM(balance) FROM wallets WHERE currency = c.currency), 0)
        FROM (SELECT DISTINCT currency FROM wallets) c
        ORDER BY c.currency
        """,
    )


def table_counts(session: Session) -> dict[str, int]:
    counts = {}
    for table in ("users", "wallets", "transfers", "entries", "outbox"):
        counts[table] = int(session.connection().execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608 - fixed names
    counts["outbox_pending"] = int(
        session.connection()
        .execute(text("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL"))
        .scalar_one()
    )
    return counts


def audit_log_page(session: Session, after: Cursor | None, limit: int) -> list[tuple[AuditLogEntry, str]]:
    query = select(AuditLogEntry, User.email).join(User, col(User.id) == AuditLogEntry.actor_id)
    if after is not None:
        query = query.where(
            or_(
                col(AuditLogEntry.created_at) < after.created_at,
                (col(AuditLogEntry.created_at) == after.created_at) & (col(AuditLogEntry.id) < after.id),
            )
        )
    query = query.order_by(col(AuditLogEntry.created_at).desc(), col(AuditLogEntry.id).desc())
    return [(entry, email) for entry, email in session.exec(query.limit(limit)).all()]
