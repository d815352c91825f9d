"""The raw sqlite3 limit: one transfer per commit, the rows the product writes, no daemon.

Run as its own process (`python -m bench.rawsqlite --db FILE --seconds S --tag T`) on a copy
of the embedded daemon's SQLite file after setup, so it starts from the same users, wallets
and balances. It prints one JSON object on stdout.

The connection is opened through the daemon's own engine (`gopherpayd.kit.db.make_engine`),
so its connect hook sets exactly the daemon's PRAGMAs (they are reported in the JSON), and
then used as a plain stdlib `sqlite3` connection: every transfer is `BEGIN IMMEDIATE` (the
daemon's write lock), both wallets read, the `transfers` row, its 2 `entries`, 2 balance
updates, both users' `event_seq`, the 2 `outbox` events with their payloads, the
`idempotency_keys` record with the Transfer object as its answer, `COMMIT`. SQLite has one
writer at a time, so one process writing in a loop is its limit.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scratch import BenchError, SqliteScratch

REPO_ROOT = Path(__file__).resolve().parent.parent
PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
MEMO = "bench raw-sqlite"


@dataclass(frozen=True)
class Party:
    user_id: str
    wallet_id: str
    email: str
    full_name: str

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "full_name": self.full_name,
            "system": False,
            "user_id": str(uuid.UUID(self.user_id)),
            "wallet_id": str(uuid.UUID(self.wallet_id)),
        }


def open_like_the_daemon(path: Path) -> sqlite3.Connection:
    """A stdlib sqlite3 connection with the PRAGMAs the daemon's connect hook sets."""
    from gopherpayd.kit.db import make_engine

    engine = make_engine(f"sqlite:///{path}")
    connection = engine.raw_connection().driver_connection
    assert isinstance(connection, sqlite3.Connection)
    connection.isolation_level = None  # we say BEGIN IMMEDIATE and COMMIT ourselves
    return connection


def parties(connection: sqlite3.Connection) -> list[Party]:
    rows = connection.execute(
        "SELECT u.id, w.id, u.email, u.full_name FROM users u JOIN wallets w ON w.owner_id = u.id "
        "WHERE u.role = 'user' AND w.kind = 'user' AND w.currency = 'USD' AND w.closed_at IS NULL "
        "ORDER BY u.email"
    ).fetchall()
    return [Party(*(str(value) for value in row)) for row in rows]


def _payload(me: Party, other: Party, direction: str, balance: int, transfer_id: str) -> str:
    return json.dumps(
        {
            "amount": 1,
            "counterparty": other.email,
            "counterparty_wallet_id": str(uuid.UUID(other.wallet_id)),
            "currency": "USD",
            "direction": direction,
            "email": me.email,
            "kind": "transfer",
            "memo": MEMO,
            "new_balance": balance,
            "transfer_id": transfer_id,
            "user_id": str(uuid.UUID(me.user_id)),
            "wallet_id": str(uuid.UUID(me.wallet_id)),
        },
        sort_keys=True,
    )


def one_transfer(connection: sqlite3.Connection, sender: Party, recipient: Party, key: str) -> None:
    """One transfer of 1 cent in its own transaction, the product's rows."""
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.isoformat(sep=" ", timespec="microseconds")
    transfer = uuid.uuid4()
    execute = connection.execute
    execute("BEGIN IMMEDIATE")
    try:
        execute(
            "SELECT id, balance FROM wallets WHERE id IN (?, ?) ORDER BY id",
            (sender.wallet_id, recipient.wallet_id),
        ).fetchall()
        execute(
            "INSERT INTO transfers (id, kind, amount, currency, from_wallet_id, to_wallet_id, memo, "
            "initiated_by, reverses_transfer_id, created_at) "
            "VALUES (?, 'transfer', 1, 'USD', ?, ?, ?, ?, NULL, ?)",
            (transfer.hex, sender.wallet_id, recipient.wallet_id, MEMO, sender.user_id, stamp),
        )
        execute(
            "INSERT INTO entries (id, transfer_id, wallet_id, amount, currency, created_at) "
            "VALUES (?, ?, ?, -1, 'USD', ?), (?, ?, ?, 1, 'USD', ?)",
            (uuid.uuid4().hex, transfer.hex, sender.wallet_id, stamp)
            + (uuid.uuid4().hex, transfer.hex, recipient.wallet_id, stamp),
        )
        (sent_balance,) = execute(
            "UPDATE wallets SET balance = balance - 1 WHERE id = ? RETURNING balance", (sender.wallet_id,)
        ).fetchone()
        (received_balance,) = execute(
            "UPDATE wallets SET balance = balance + 1 WHERE id = ? RETURNING balance", (recipient.wallet_id,)
        ).fetchone()
        seqs = dict(
            execute(
                "UPDATE users SET event_seq = event_seq + 1 WHERE id IN (?, ?) RETURNING id, event_seq",
                (sender.user_id, recipient.user_id),
            ).fetchall()
        )
        tid = str(transfer)
        execute(
            "INSERT INTO outbox (id, event_type, aggregate_key, user_seq, payload, created_at, published_at) "
            "VALUES (?, 'transfer.sent', ?, ?, ?, ?, NULL), (?, 'transfer.received', ?, ?, ?, ?, NULL)",
            (uuid.uuid4().hex, str(uuid.UUID(sender.user_id)), seqs[sender.user_id])
            + (_payload(sender, recipient, "out", sent_balance, tid), stamp)
            + (uuid.uuid4().hex, str(uuid.UUID(recipient.user_id)), seqs[recipient.user_id])
            + (_payload(recipient, sender, "in", received_balance, tid), stamp),
        )
        answer = {
            "amount": 1,
            "created_at": now.isoformat() + "Z",
            "currency": "USD",
            "direction": "out",
            "id": tid,
            "kind": "transfer",
            "memo": MEMO,
            "recipient": recipient.as_json(),
            "reverses_transfer_id": None,
            "sender": sender.as_json(),
        }
        execute(
            "INSERT INTO idempotency_keys "
            "(id, scope, key, request_hash, status_code, response_body, created_at) "
            "VALUES (?, ?, ?, ?, 201, ?, ?)",
            (
                uuid.uuid4().hex,
                str(uuid.UUID(sender.user_id)),
                key,
                transfer.hex * 2,
                json.dumps(answer, sort_keys=True, separators=(",", ":")),
                stamp,
            ),
        )
        execute("COMMIT")
    except BaseException:
        execute("ROLLBACK")
        raise


def run(path: Path, seconds: float, tag: str) -> dict[str, Any]:
    connection = open_like_the_daemon(path)
    pragmas = {name: connection.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}
    accounts = parties(connection)
    if len(accounts) < 2:
        raise SystemExit(f"{path}: fewer than 2 funded users")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    deadline = start + seconds
    done = 0
    while time.perf_counter() < deadline:
        sender, recipient = random.sample(accounts, 2)
        done += 1
        one_transfer(connection, sender, recipient, f"{tag}-{done}")
    duration = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    connection.close()
    return {
        "transactions": done,
        "duration_s": duration,
        "transfers_per_s": done / duration,
        "latency_ms": 1000 * duration / done if done else 0.0,
        "cpu_s": (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
        "pragmas": pragmas,
    }


@dataclass(frozen=True)
class RawSqliteResult:
    transactions: int
    """Transfers committed, one per transaction."""
    duration_s: float
    transfers_per_s: float
    latency_ms: float
    """Mean time of one transaction (one commit)."""
    cpu_s: float
    pragmas: dict[str, Any]


def copy_database(source: SqliteScratch, workdir: Path) -> SqliteScratch:
    """A copy of the embedded daemon's file after setup (its users, wallets and balances), for
    the raw script alone; taken with SQLite's backup API, so the WAL's pages come along."""
    copy = SqliteScratch(workdir=workdir, database="", accounts=source.accounts)
    copy.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with sqlite3.connect(source.path) as origin, sqlite3.connect(copy.path) as target:
        origin.backup(target)
    origin.close()
    target.close()
    return copy


def measure(raw: SqliteScratch, seconds: float, tag: str) -> RawSqliteResult:
    """One timed run of this module as its own process on `raw`'s file."""
    command = [sys.executable, "-m", "bench.rawsqlite", f"--db={raw.path}", f"--seconds={seconds}"]
    command.append(f"--tag={tag}")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=False, cwd=REPO_ROOT
    )
    if done.returncode != 0:
        raise BenchError(f"the raw sqlite3 script failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return RawSqliteResult(**result)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file (a copy of the daemon's)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tag", required=True, help="idempotency key prefix, unique per run")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.db, args.seconds, args.tag)))


if __name__ == "__main__":
    main()
