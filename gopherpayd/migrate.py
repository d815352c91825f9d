"""Apply the Alembic migrations shipped in the top-level `migrations` package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, pool, text

import migrations

# Several daemons starting at once against one Postgres take turns migrating.
MIGRATION_LOCK_KEY = 0x6770_6179  # "gpay"
BASE = "base"


class UnknownRevision(ValueError):
    """A revision that is not among the shipped migrations."""


@dataclass(frozen=True)
class Revision:
    id: str
    title: str


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """On Postgres, hold the migration advisory lock (one migrating process at a time)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


def _locked(database_url: str, migrate: Callable[[Config], None]) -> None:
    config = alembic_config(database_url)
    if not database_url.startswith("postgresql"):
        migrate(config)
        return
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection, migration_lock(connection):
        config.attributes["connection"] = connection
        migrate(config)
        connection.commit()
    engine.dispose()


def upgrade_to_head(database_url: str) -> None:
    _locked(database_url, lambda config: command.upgrade(config, "head"))


def downgrade_to_base(database_url: str) -> None:
    _locked(database_url, lambda config: command.downgrade(config, BASE))


def revisions() -> list[Revision]:
    """Every shipped migration, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [
        Revision(item.revision, " ".join((item.doc or "").split()))
        for item in reversed(list(script.walk_revisions()))
    ]


def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None when no migration has been applied."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def resolve_revision(name: str) -> str:
    """A shipped revision id (a unique prefix will do), `head` or `base`; else UnknownRevision."""
    known = [item.id for item in revisions()]
    if name == BASE:
        return BASE
    if name in ("head", "heads"):
        return known[-1]
    matches = [revision for revision in known if revision.startswith(name)] if name else []
    if name in known:
        return name
    if len(matches) == 1:
        return matches[0]
    reason = "matches several revisions" if matches else "is not a known revision"
    raise UnknownRevision(f"{name!r} {reason}; known: base, {', '.join(known)} (head)")


def migrate_to(database_url: str, name: str) -> tuple[str | None, str]:
    """Upgrade or downgrade to a revision (see resolve_revision); answers (before, after)."""
    target = resolve_revision(name)
    order = [BASE, *(item.id for item in revisions())]
    before = current_revision(database_url)
    if (before or BASE) not in order:
        raise UnknownRevision(
            f"the database is at {before!r}, which these migrations do not know (a newer gopherpayd?)"
        )
    here, there = order.index(before or BASE), order.index(target)
    if there > here:
        _locked(database_url, lambda config: command.upgrade(config, target))
    elif there < here:
        _locked(database_url, lambda config: command.downgrade(config, target))
    return before, target
