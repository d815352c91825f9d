"""Money conservation, checked in SQL on a benchmark database once the run is over.

The product's own audit (GET /v1/admin/audit) runs after every load run; this is the second,
independent check, in plain SQL that both Postgres and SQLite understand, so it also covers
what the raw legs wrote (pgbench's rows and the raw sqlite3 script's), which no daemon audits.
Every count below must be 0, and the users' money must be exactly what setup deposited, less
what they sold and plus what they bought in FX executions: after setup no money enters or
leaves, it only moves between users and, in FX, to and from the house and revenue wallets.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.scratch import FUNDING_MINOR, BenchError, Scratch

CHECKS = {
    "currencies whose wallets do not sum to zero (system wallets included)": """
        SELECT count(*) FROM (
            SELECT currency FROM wallets GROUP BY currency HAVING sum(balance) <> 0
        ) AS unbalanced""",
    "wallets whose balance is not the sum of their entries": """
        SELECT count(*) FROM wallets w
        WHERE w.balance <> (SELECT coalesce(sum(e.amount), 0) FROM entries e WHERE e.wallet_id = w.id)""",
    "transfers whose entries do not sum to zero in a currency": """
        SELECT count(*) FROM (
            SELECT transfer_id FROM entries GROUP BY transfer_id, currency HAVING sum(amount) <> 0
        ) AS lopsided""",
    "transfers other than FX executions without exactly two entries": """
        SELECT count(*) FROM transfers t
        WHERE t.quote_id IS NULL AND (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id) <> 2""",
    "FX executions whose entries are not their quote's legs": """
        SELECT count(*) FROM transfers t JOIN fx_quotes q ON q.id = t.quote_id
        WHERE q.transfer_id <> t.id
           OR (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id)
              <> CASE WHEN q.fee > 0 THEN 6 ELSE 4 END
           OR (SELECT coalesce(sum(e.amount), 0) FROM entries e
               WHERE e.transfer_id = t.id AND e.currency = q.sell_currency AND e.amount < 0)
              <> -q.sell_amount
           OR (SELECT coalesce(sum(e.amount), 0) FROM entries e
               WHERE e.transfer_id = t.id AND e.currency = q.buy_currency AND e.amount > 0)
              <> q.buy_amount""",
    "currencies other than USD whose users hold other than what FX bought less what it sold": """
        SELECT count(*) FROM (
            SELECT currency, sum(balance) AS held_by_users FROM wallets
            WHERE kind = 'user' AND currency <> 'USD' GROUP BY currency
        ) AS users
        WHERE users.held_by_users <>
              (SELECT coalesce(sum(q.buy_amount), 0) FROM fx_quotes q
               WHERE q.used_at IS NOT NULL AND q.buy_currency = users.currency)
              - (SELECT coalesce(sum(q.sell_amount), 0) FROM fx_quotes q
                 WHERE q.used_at IS NOT NULL AND q.sell_currency = users.currency)""",
    "user wallets below zero": "SELECT count(*) FROM wallets WHERE kind = 'user' AND balance < 0",
    "wallets whose held amount is not what their open holds still reserve": """
        SELECT count(*) FROM wallets w
        WHERE w.held <> (SELECT coalesce(sum(h.amount - h.captured - h.released), 0) FROM holds h
                         WHERE h.payer_wallet_id = w.id AND h.status = 'open')""",
    "holds captured and released beyond their amount": """
        SELECT count(*) FROM holds WHERE captured + released > amount""",
}
USER_MONEY = (
    "SELECT CAST(coalesce(sum(balance), 0) AS BIGINT) FROM wallets WHERE kind = 'user' AND currency = 'USD'"
)
FX_USD_NET = """
    SELECT CAST((SELECT coalesce(sum(buy_amount), 0) FROM fx_quotes
                 WHERE used_at IS NOT NULL AND buy_currency = 'USD')
                - (SELECT coalesce(sum(sell_amount), 0) FROM fx_quotes
                   WHERE used_at IS NOT NULL AND sell_currency = 'USD') AS BIGINT)"""
"""What FX executions moved into users' USD wallets (bought) less what they took (sold)."""


@dataclass(frozen=True)
class Conservation:
    database: str
    """Which database: "postgres", "sqlite (API)", "sqlite (raw)"."""
    transfers: int
    violations: dict[str, int]
    user_money_minor: int
    expected_user_money_minor: int
    """Setup's deposits plus what FX executions moved into users' USD wallets (bought) less
    what they took out (sold, fee included)."""

    @property
    def ok(self) -> bool:
        return not any(self.violations.values()) and self.user_money_minor == self.expected_user_money_minor


def check(scratch: Scratch, database: str) -> Conservation:
    """Run every check on `scratch`'s database; raise BenchError when money was not conserved."""
    result = Conservation(
        database=database,
        transfers=scratch.scalar("SELECT count(*) FROM transfers"),
        violations={name: scratch.scalar(query) for name, query in CHECKS.items()},
        user_money_minor=scratch.scalar(USER_MONEY),
        expected_user_money_minor=FUNDING_MINOR * len(scratch.accounts) + scratch.scalar(FX_USD_NET),
    )
    if not result.ok:
        broken = [f"{count} {name}" for name, count in result.violations.items() if count]
        if result.user_money_minor != result.expected_user_money_minor:
            broken.append(
                f"users hold {result.user_money_minor} USD minor units, setup's deposits and FX "
                f"make it {result.expected_user_money_minor}"
            )
        raise BenchError(f"money was not conserved on {database}: " + "; ".join(broken))
    return result
