"""Database engine, sessions and the retryable unit of work."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

from sqlalchemy import Table, TextClause, event, insert, text
from sqlalchemy.engine import Engine, ExceptionContext, create_engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlmodel import Session

from gopherpayd.kit.files import private_sqlite_file

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_RETRIES = 8
"""How many times a unit of work reruns after losing a race, unless told otherwise."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLSTATEs that mean "this transaction lost a race; run it again".
RETRYABLE_SQLSTATES = {"40001", "40P01"}


def make_engine(url: str) -> Engine:
    # Parameters carry password hashes, token hashes and memos: never into a log or an error.
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True,
        )
        _serialize_sqlite_writers(engine)
    else:
        engine = create_engine(url, pool_size=20, max_overflow=20, hide_parameters=True)
        _ping_when_idle(engine)
    event.listen(engine, "handle_error", _keep_row_values_out_of_messages)
    return engine


PING_AFTER_IDLE_SECONDS = 2.0
"""A pooled connection idle longer than this is pinged before use (as `pool_pre_ping` would
ping every one); a connection back in the pool for less is used as it is."""


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout only when it sat idle in the pool.

    What kills a pooled connection (a server restart, an idle timeout on the way) happens
    to idle connections; one checked in moments ago by the writer or a request is alive.
    A ping per checkout was a round trip and ~13% of the CPU of a transfer. A dead
    connection found by the ping is replaced: raising DisconnectionError on checkout makes
    the pool discard it and connect afresh.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is not None and time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection is gone") from error
        if not alive:
            raise DisconnectionError("the pooled connection is gone")


def _keep_row_values_out_of_messages(context: ExceptionContext) -> None:
    """Cut a database error's message to its first line.

    Postgres adds lines such as `DETAIL: Failing row contains (…, $2b$12$…)` with the
    values of the row a constraint refused; the first line names the constraint, and
    `orig.diag` still carries every field for code that needs them.
    """
    original = context.original_exception
    message = str(original)
    first_line = message.partition("\n")[0]
    if first_line == message or len(original.args) != 1:
        return
    original.args = (first_line,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and len(wrapped.args) == 1 and isinstance(wrapped.args[0], str):
        wrapped.args = (wrapped.args[0].replace(message, first_line, 1),)


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Make every SQLite transaction BEGIN IMMEDIATE.

    pysqlite otherwise opens transactions lazily and lets two writers both read a
    balance before either writes; taking the write lock up front serializes money
    movement the way row locks do on Postgres.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (each with the same columns) in one statement.

    On Postgres: `INSERT ... SELECT * FROM unnest(array, array, ...)`, one array per column,
    so the statement text is the same for any number of rows (compiled once, cheap to
    bind). On SQLite, which has no arrays: one prepared statement run for every row, in
    process, which is what SQLite does fastest.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = tuple(rows[0])
    session.execute(_unnest_insert(table, names, dialect), {n: [row[n] for row in rows] for n in names})


_UNNEST_INSERTS: dict[tuple[str, tuple[str, ...]], TextClause] = {}


def _unnest_insert(table: Table, names: tuple[str, ...], dialect: Any) -> TextClause:
    statement = _UNNEST_INSERTS.get((table.name, names))
    if statement is None:
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(f"CAST(:{n} AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names)
        columns = ", ".join(quote(n) for n in names)
        statement = text(f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM unnest({arrays})")  # noqa: S608
        _UNNEST_INSERTS[(table.name, names)] = statement
    return statement


def is_retryable(error: BaseException) -> bool:
    """A deadlock, serialization failure or SQLite lock timeout: safe to run the work again."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
            return True
    return False


# SQLite's extended result code for a UNIQUE constraint or unique index violation.
SQLITE_CONSTRAINT_UNIQUE = 2067
POSTGRES_UNIQUE_VIOLATION = "23505"


class LostRace(Exception):  # noqa: N818 - a signal, not a failure
    """Work read a row that a concurrent transaction changed before the lock was granted.

    Raising it rolls the unit of work back and runs it again from a fresh read.
    """


def unique_violation(error: BaseException) -> str | None:
    """The unique constraint or index a write tripped, or None if it tripped none.

    Postgres names the constraint or index (`transfers_reverses_transfer_id_key`);
    SQLite names its columns (`transfers.reverses_transfer_id`).
    """
    if not isinstance(error, IntegrityError):
        return None
    orig = error.orig
    if getattr(orig, "sqlstate", None) == POSTGRES_UNIQUE_VIOLATION:
        diag = getattr(orig, "diag", None)
        return str(getattr(diag, "constraint_name", None) or "unknown")
    if getattr(orig, "sqlite_errorcode", None) == SQLITE_CONSTRAINT_UNIQUE:
        return str(orig).removeprefix("UNIQUE constraint failed: ")
    return None


def is_lost_race(error: BaseException) -> bool:
    """Safe and useful to run the work again: a retryable error, a stale read, or a unique
    violation (another transaction committed the same key between our check and our
    write; on the rerun the check sees it and answers with the domain's own refusal)."""
    return isinstance(error, LostRace) or is_retryable(error) or unique_violation(error) is not None


class Database:
    """Owns the engine; hands out sessions and runs units of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits when the block ends without error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @overload
    def run(self, work: Callable[Concatenate[Session, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    @overload
    def run(
        self,
        work: Callable[[Session], T],
        /,
        *,
        retries: int = DEFAULT_RETRIES,
        retry_on: Callable[[BaseException], bool] = is_lost_race,
    ) -> T: ...

    def run(self, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run `work(session, *args, **kwargs)` in one transaction and commit; rerun it when it
        loses a race: `db.run(service.history, principal, spec, cursor, limit)`.

        `retries` (how many reruns, default 8) and `retry_on` (which errors rerun, default
        `is_lost_race`) are the unit of work's own options: reserved names, never passed on to
        `work`. They go with a `work` that takes the session alone (a named function, or a
        `functools.partial` for its other arguments).
        """
        retries: int = kwargs.pop("retries", DEFAULT_RETRIES)
        retry_on: Callable[[BaseException], bool] = kwargs.pop("retry_on", is_lost_race)
        attempt = 0
        while True:
            try:
                with self.session() as session:
                    return work(session, *args, **kwargs)
            except Exception as error:
                if attempt >= retries or not retry_on(error):
                    raise
                attempt += 1
                time.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311 - jitter, not crypto

    def dispose(self) -> None:
        self.engine.dispose()
