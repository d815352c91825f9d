"""The ledger as SQL sees it, for tests that check what a fault left behind.

Every check reads the tables themselves (transfers, entries, wallets, outbox,
idempotency_keys), never the engine, so it holds whatever engine wrote the rows.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from gopherpayd.kit.db import Database
from gopherpayd.vocabulary import WalletKind

MOVED = 201


def uid(value: object) -> str:
    """An id in one spelling (SQLite keeps a UUID as 32 hex digits, Postgres and JSON with dashes)."""
    return str(uuid.UUID(str(value)))


def rows(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one query on a connection of its own (the daemon under test may be dead or alive)."""
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params).all()]
    finally:
        database.dispose()


@dataclass(frozen=True)
class KeyRecord:
    """An idempotency record: the outcome kept under one caller's key."""

    status: int
    transfer_id: str | None
    """The transfer a 201 record answers with."""


def key_records(database_url: str) -> dict[tuple[str, str], list[KeyRecord]]:
    """Every idempotency record, by (scope, key): a list, so that a duplicate shows."""
    found: dict[tuple[str, str], list[KeyRecord]] = defaultdict(list)
    for scope, key, status, body in rows(
        database_url, "SELECT scope, key, status_code, response_body FROM idempotency_keys"
    ):
        transfer_id = uid(json.loads(body)["id"]) if status == MOVED else None
        found[(str(scope), str(key))].append(KeyRecord(int(status), transfer_id))
    return dict(found)


def transfers_by_memo(database_url: str) -> Counter[str]:
    """How many transfers carry each memo (the fault tests put the request's key there)."""
    return Counter(
        str(memo) for (memo,) in rows(database_url, "SELECT memo FROM transfers WHERE memo IS NOT NULL")
    )


def ledger_problems(database_url: str) -> list[str]:
    """Whatever a half-written movement would leave: an empty list when the ledger is whole.

    Each transfer has exactly two entries, one per wallet of the transfer, summing to zero;
    each wallet's balance is the sum of its entries; each transfer was announced in the
    outbox; each key's record keeps an outcome (an HTTP status), and each 201 record answers with a
    transfer that exists.
    """
    problems: list[str] = []
    transfers = {
        uid(transfer_id): (uid(source), uid(destination), int(amount))
        for transfer_id, source, destination, amount in rows(
            database_url, "SELECT id, from_wallet_id, to_wallet_id, amount FROM transfers"
        )
    }
    entries: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for transfer_id, wallet_id, amount in rows(
        database_url, "SELECT transfer_id, wallet_id, amount FROM entries"
    ):
        entries[uid(transfer_id)].append((uid(wallet_id), int(amount)))
    for transfer_id, (source, destination, amount) in transfers.items():
        expected = sorted([(source, -amount), (destination, amount)])
        if sorted(entries.get(transfer_id, [])) != expected:
            problems.append(f"transfer {transfer_id} has entries {entries.get(transfer_id)}, not {expected}")
    problems += [f"entries of a missing transfer {t}" for t in entries if t not in transfers]

    for wallet_id, balance, from_entries in rows(
        database_url,
        "SELECT w.id, w.balance, (SELECT COALESCE(SUM(e.amount), 0) FROM entries e "
        "WHERE e.wallet_id = w.id) FROM wallets w",
    ):
        if int(balance) != int(from_entries):
            problems.append(f"wallet {wallet_id} holds {balance}, its entries sum to {from_entries}")

    announced = {
        uid(payload["transfer_id"])
        for (body,) in rows(database_url, "SELECT payload FROM outbox")
        if "transfer_id" in (payload := json.loads(body))
    }
    problems += [f"transfer {t} has no outbox event" for t in transfers if t not in announced]
    problems += [f"an outbox event of a missing transfer {t}" for t in announced if t not in transfers]

    for (scope, key), records in key_records(database_url).items():
        if len(records) != 1:
            problems.append(f"key {key!r} of {scope} has {len(records)} records")
        for record in records:
            if not 200 <= record.status < 600:  # e.g. a key claimed and never given its outcome
                problems.append(f"key {key!r} of {scope} keeps no outcome (status {record.status})")
            if record.status == MOVED and record.transfer_id not in transfers:
                problems.append(
                    f"key {key!r} of {scope} answers with a missing transfer {record.transfer_id}"
                )
    return problems


def money_by_currency(database_url: str) -> dict[str, tuple[int, int]]:
    """Per currency: (the sum of user wallet balances, minus the system wallet's balance).

    Money is conserved when the two are equal: users hold what came in from outside.
    """
    users: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for currency, kind, balance in rows(
        database_url, "SELECT currency, kind, COALESCE(SUM(balance), 0) FROM wallets GROUP BY currency, kind"
    ):
        if kind == WalletKind.USER:
            users[str(currency)] += int(balance)
        else:
            outside[str(currency)] -= int(balance)
    return {currency: (users[currency], outside[currency]) for currency in set(users) | set(outside)}
