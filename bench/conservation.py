"""Money conservation, checked in SQL on a benchmark database once the run is over.

The product's own audit (GET /v1/admin/audit) runs after every load run; this is the second,
independent check, in plain SQL that both Postgres and SQLite understand, so it also covers
what the raw legs wrote (pgbench's rows and the raw sqlite3 script's), which no daemon audits.
Every count below must be 0, and the users' money must be exactly what setup deposited: after
setup no money enters or leaves, it only moves between users.
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
    "transfers whose entries do not sum to zero": """
        SELECT count(*) FROM (
            SELECT transfer_id FROM entries GROUP BY transfer_id HAVING sum(amount) <> 0
        ) AS lopsided""",
    "transfers without exactly two entries": """
        SELECT count(*) FROM transfers t
        WHERE (SELECT count(*) FROM entries e WHERE e.transfer_id = t.id) <> 2""",
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


@dataclass(frozen=True)
class Conservation:
    database: str
    """Which database: "postgres", "sqlite (API)", "sqlite (raw)"."""
    transfers: int
    violations: dict[str, int]
    user_money_minor: int
    expected_user_money_minor: int

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
        expected_user_money_minor=FUNDING_MINOR * len(scratch.accounts),
    )
    if not result.ok:
        broken = [f"{count} {name}" for name, count in result.violations.items() if count]
        if result.user_money_minor != result.expected_user_money_minor:
            broken.append(
                f"users hold {result.user_money_minor} minor units, setup deposited "
                f"{result.expected_user_money_minor}"
            )
        raise BenchError(f"money was not conserved on {database}: " + "; ".join(broken))
    return result
