"""SQL for operators: the ledger audit and the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from gopherpayd.audit.models import AuditLogEntry
from gopherpayd.identity.models import User
from gopherpayd.kit.pagination import Cursor, newest_first
from gopherpayd.vocabulary import TransferKind, WalletKind


def _rows(session: Session, sql: str) -> list[Any]:
    return list(session.connection().execute(text(sql)).all())


# Sums of BIGINTs overflow a BIGINT (SQLite raises `integer overflow`, even midway through
# a sum whose result would fit), and floats are never money. So every sum is taken in two
# parts that cannot overflow: the high 32 bits (arithmetic shift, sign kept) and the low
# 32 bits (0 to 2**32 - 1) of each amount, each summed over fewer than 2**31 rows, and
# combined exactly in Python, or compared in SQL after carrying the low part's overflow.
_LOW_MASK = 0xFFFFFFFF


def _split_sum(column: str, alias: str) -> str:
    """Two columns, `<alias>_hi` and `<alias>_lo`, whose exact_total() is SUM(column)."""
    return (
        f"CAST(COALESCE(SUM({column} >> 32), 0) AS BIGINT) AS {alias}_hi, "
        f"CAST(COALESCE(SUM({column} & {_LOW_MASK}), 0) AS BIGINT) AS {alias}_lo"
    )


def _split_sum_differs(column: str, value: str) -> str:
    """SQL true when SUM(column) <> value (a BIGINT), computed without overflow."""
    hi = f"CAST(COALESCE(SUM({column} >> 32), 0) AS BIGINT)"
    lo = f"CAST(COALESCE(SUM({column} & {_LOW_MASK}), 0) AS BIGINT)"
    return f"NOT ({hi} + ({lo} >> 32) = ({value}) >> 32 AND ({lo} & {_LOW_MASK}) = (({value}) & {_LOW_MASK}))"


def exact_total(high: int, low: int) -> int:
    """The exact sum from its two parts (Python ints do not overflow)."""
    return int(high) * 2**32 + int(low)


def wallets_not_matching_entries(session: Session) -> list[tuple[Any, str, int, int]]:
    rows = _rows(
        session,
        f"""
        SELECT w.id, w.currency, w.balance, {_split_sum("e.amount", "entries")}
        FROM wallets w LEFT JOIN entries e ON e.wallet_id = w.id
        GROUP BY w.id, w.currency, w.balance
        HAVING {_split_sum_differs("e.amount", "w.balance")}
        """,  # noqa: S608 - fixed SQL
    )
    return [
        (wallet_id, currency, balance, exact_total(hi, lo)) for wallet_id, currency, balance, hi, lo in rows
    ]


def unbalanced_transfers(session: Session) -> list[tuple[Any, str, int, int]]:
    rows = _rows(
        session,
        f"""
        SELECT t.id, t.currency, {_split_sum("e.amount", "total")}, COUNT(e.id) AS lines
        FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        WHERE t.quote_id IS NULL
        GROUP BY t.id, t.currency
        HAVING {_split_sum_differs("e.amount", "0")} OR COUNT(e.id) <> 2
        """,  # noqa: S608 - fixed SQL
    )
    # A transfer that executes an FX quote has entries in two currencies: each sums to zero.
    rows += _rows(
        session,
        f"""
        SELECT t.id, e.currency, {_split_sum("e.amount", "total")}, COUNT(e.id) AS lines
        FROM transfers t JOIN entries e ON e.transfer_id = t.id
        WHERE t.quote_id IS NOT NULL
        GROUP BY t.id, e.currency
        HAVING {_split_sum_differs("e.amount", "0")}
        """,  # noqa: S608 - fixed SQL
    )
    return [
        (transfer_id, currency, exact_total(hi, lo), lines) for transfer_id, currency, hi, lo, lines in rows
    ]


def entries_not_matching_transfer(session: Session) -> list[Any]:
    """Lines whose currency or wallet disagrees with their transfer."""
    return _rows(
        session,
        """
        SELECT e.id, e.transfer_id, e.currency, w.currency AS wallet_currency, t.currency AS transfer_currency
        FROM entries e JOIN transfers t ON t.id = e.transfer_id JOIN wallets w ON w.id = e.wallet_id
        WHERE t.quote_id IS NULL AND (e.currency <> t.currency OR w.currency <> t.currency
           OR (e.amount < 0 AND (e.wallet_id <> t.from_wallet_id OR -e.amount <> t.amount))
           OR (e.amount > 0 AND (e.wallet_id <> t.to_wallet_id OR e.amount <> t.amount)))
        """,
    )


def negative_user_wallets(session: Session) -> list[Any]:
    return _rows(
        session,
        f"SELECT id, currency, balance FROM wallets WHERE kind = '{WalletKind.USER}' AND balance < 0",  # noqa: S608 - fixed SQL
    )


_OPEN_REMAINING = "CASE WHEN h.status = 'open' THEN h.amount - h.captured - h.released END"


def wallets_held_not_matching_holds(session: Session) -> list[tuple[Any, str, int, int]]:
    """Wallets whose held amount is not what their open holds have left (twin: the Postgres
    triggers trg_wallets_held_matches_holds and trg_holds_match_wallet_held)."""
    rows = _rows(
        session,
        f"""
        SELECT w.id, w.currency, w.held, {_split_sum(_OPEN_REMAINING, "reserved")}
        FROM wallets w LEFT JOIN holds h ON h.payer_wallet_id = w.id
        GROUP BY w.id, w.currency, w.held
        HAVING {_split_sum_differs(_OPEN_REMAINING, "w.held")}
        """,  # noqa: S608 - fixed SQL
    )
    return [(wallet_id, currency, held, exact_total(hi, lo)) for wallet_id, currency, held, hi, lo in rows]


def wallets_holding_less_than_nothing(session: Session) -> list[Any]:
    return _rows(session, "SELECT id, currency, held FROM wallets WHERE held < 0")


def user_wallets_over_held(session: Session) -> list[Any]:
    """User wallets whose open holds reserve more than they hold (available below zero)."""
    return _rows(
        session,
        "SELECT id, currency, balance, held FROM wallets "  # noqa: S608 - fixed SQL
        f"WHERE kind = '{WalletKind.USER}' AND balance - held < 0",
    )


def holds_settled_beyond_amount(session: Session) -> list[Any]:
    """Holds that captured and released more than they held, or closed with something left."""
    return _rows(
        session,
        """
        SELECT id, currency, amount, captured, released, status FROM holds
        WHERE captured < 0 OR released < 0 OR captured + released > amount
           OR (status <> 'open' AND captured + released <> amount)
        """,
    )


def closed_wallets_holding_money(session: Session) -> list[Any]:
    """Closed wallets whose balance is not zero (the twin ck_wallets_closed_is_empty forbids it)."""
    return _rows(
        session, "SELECT id, currency, balance FROM wallets WHERE closed_at IS NOT NULL AND balance <> 0"
    )


def fx_transfers_and_quotes(session: Session) -> tuple[list[Any], list[Any], list[Any]]:
    """What the FX audit compares: every transfer that names a quote or is of an FX kind (with
    its quote's columns, NULL when it has none); every used quote (with the transfer it names,
    NULL when that transfer does not exist or does not name it back); and the entries of every
    transfer naming a quote, with their wallet's kind."""
    transfers = _rows(
        session,
        f"""
        SELECT t.id, t.kind, t.amount, t.currency, t.quote_id, q.id, q.transfer_id, q.sell_currency,
               q.sell_amount, q.buy_currency, q.buy_amount, q.fee, t.from_wallet_id, t.to_wallet_id
        FROM transfers t LEFT JOIN fx_quotes q ON q.id = t.quote_id
        WHERE t.quote_id IS NOT NULL OR t.kind IN ('{TransferKind.EXCHANGE}', '{TransferKind.FX_TRANSFER}')
        """,  # noqa: S608 - fixed SQL
    )
    quotes = _rows(
        session,
        """
        SELECT q.id, q.transfer_id, t.id
        FROM fx_quotes q LEFT JOIN transfers t ON t.id = q.transfer_id AND t.quote_id = q.id
        WHERE q.used_at IS NOT NULL
        """,
    )
    entries = _rows(
        session,
        """
        SELECT e.transfer_id, e.wallet_id, w.kind, e.currency, e.amount
        FROM entries e JOIN transfers t ON t.id = e.transfer_id JOIN wallets w ON w.id = e.wallet_id
        WHERE t.quote_id IS NOT NULL
        """,
    )
    return transfers, quotes, entries


def currency_totals(session: Session) -> list[tuple[str, int, int, int, int, int, int]]:
    """Per currency: user wallets total, money in from and out to the system wallet, all wallets,
    the FX house's position and the FX revenue."""
    wallets = _rows(
        session,
        f"""
        SELECT currency, kind, {_split_sum("balance", "balance")}
        FROM wallets GROUP BY currency, kind
        """,  # noqa: S608 - fixed SQL
    )
    movements = _rows(
        session,
        f"""
        SELECT t.currency, CASE WHEN s.id = t.from_wallet_id THEN 'in' ELSE 'out' END AS direction,
               {_split_sum("t.amount", "amount")}
        FROM transfers t
        JOIN wallets s ON s.kind = '{WalletKind.SYSTEM}' AND s.id IN (t.from_wallet_id, t.to_wallet_id)
        GROUP BY t.currency, CASE WHEN s.id = t.from_wallet_id THEN 'in' ELSE 'out' END
        """,  # noqa: S608 - fixed SQL
    )
    by_kind: dict[tuple[str, str], int] = {}
    all_totals: dict[str, int] = {}
    for currency, kind, hi, lo in wallets:
        total = exact_total(hi, lo)
        all_totals[currency] = all_totals.get(currency, 0) + total
        by_kind[(currency, kind)] = by_kind.get((currency, kind), 0) + total
    flows: dict[tuple[str, str], int] = {}
    for currency, direction, hi, lo in movements:
        flows[currency, direction] = exact_total(hi, lo)
    return [
        (
            currency,
            by_kind.get((currency, WalletKind.USER), 0),
            flows.get((currency, "in"), 0),
            flows.get((currency, "out"), 0),
            all_totals[currency],
            by_kind.get((currency, WalletKind.FX_HOUSE), 0),
            by_kind.get((currency, WalletKind.FX_REVENUE), 0),
        )
        for currency in sorted(all_totals)
    ]


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


def audit_log_page(
    session: Session, after: Cursor | None, limit: int
) -> list[tuple[AuditLogEntry, str | None]]:
    """Newest first, with the actor's email (None for an action taken at the console)."""
    query = select(AuditLogEntry, User.email).outerjoin(User, col(User.id) == AuditLogEntry.actor_id)
    query = newest_first(query, col(AuditLogEntry.created_at), col(AuditLogEntry.id), after)
    return [(entry, email) for entry, email in session.exec(query.limit(limit)).all()]
