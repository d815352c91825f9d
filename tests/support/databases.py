"""Test databases: a migrated SQLite file or a migrated Postgres database per test worker.

Postgres is required: when it cannot be reached the tests that need it fail
with a message saying how to start it; they never skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
from sqlalchemy import text

from gopherpayd.kit.db import Database
from gopherpayd.migrate import upgrade_to_head

POSTGRES_ADMIN_DSN = os.environ.get(
    "GOPHERPAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_BCRYPT_ROUNDS = 4
LEDGER_TABLES = [
    "notifications",
    "email_verifications",
    "processed_events",
    "dead_letters",
    "fx_rates",
    "entries",
    "idempotency_keys",
    "audit_log",
    "outbox",
    "transfers",
    "fx_quotes",
    "holds",
    "api_tokens",
    "refresh_tokens",
    "sessions",
    "login_failures",
    "signup_attempts",
    "wallets",
    "users",
]


class PostgresUnavailable(RuntimeError):
    pass


def _connect_admin() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise PostgresUnavailable(
            f"PostgreSQL is required for these tests and is not reachable at {POSTGRES_ADMIN_DSN} "
            f"({error}). Start it with: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start"
        ) from error


def ensure_postgres_running() -> None:
    """Start the local cluster if it is installed but stopped (as the test command does)."""
    try:
        _connect_admin().close()
        return
    except PostgresUnavailable:
        versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
        if not versions:
            raise
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"],
        check=False,
        capture_output=True,
    )
    _connect_admin().close()


def create_empty_postgres_database(name: str) -> str:
    """A fresh database without any migration applied; returns its SQLAlchemy URL."""
    ensure_postgres_running()
    with _connect_admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"


def create_postgres_database(name: str) -> str:
    """A fresh, migrated database; returns its SQLAlchemy URL."""
    url = create_empty_postgres_database(name)
    upgrade_to_head(url)
    return url


def drop_postgres_database(name: str) -> None:
    with _connect_admin() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_sqlite_database(directory: Path) -> str:
    url = f"sqlite:///{directory / 'gopherpay-test.db'}"
    upgrade_to_head(url)
    return url


def empty_all_tables(db: Database) -> None:
    """Back to a known state between tests, schema kept."""
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            # The append-only ledger triggers refuse DELETE; a test reset may bypass them
            # (TRUNCATE would too, but costs ~90 ms a test against ~2 ms for this).
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in LEDGER_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
