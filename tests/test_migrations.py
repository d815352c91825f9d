"""Every migration goes up, down to base and up again on both backends; the models and the
migrated schema agree; operators can run `gopherpayd migrate --history/--current/--to` and plain
`alembic` with the top-level alembic.ini."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, create_engine, inspect, text
from typer.testing import CliRunner

from gopherpayd import migrate
from gopherpayd.cli import app
from gopherpayd.tables import metadata

ROOT = Path(__file__).resolve().parent.parent
REVISIONS = [item.id for item in migrate.revisions()]
HEAD = REVISIONS[-1]
TITLES = {item.id: item.title for item in migrate.revisions()}


def schema_drift(url: str, models: MetaData = metadata) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty: they agree),
    plus the named CHECK constraints that only one side has.

    Nothing is ignored: both backends agree on every table, column, type, nullability, server
    default, index, unique and foreign key. compare_metadata does not look at CHECK constraints at
    all, so their names are compared apart (both backends reflect them, SQLite by parsing its
    CREATE TABLE); their text is not, as Postgres rewrites it (`kind IN (…)` comes back as
    `(kind)::text = ANY (ARRAY[…])`). Postgres's triggers are not in the models; the invariant
    tests check them.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences: list[Any] = list(compare_metadata(context, models))
            inspector = inspect(connection)
            for name, table in sorted(models.tables.items()):
                modelled = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
                migrated = {c["name"] for c in inspector.get_check_constraints(name)}
                differences += [("check only in the models", name, c) for c in sorted(modelled - migrated)]
                differences += [("check only in the database", name, c) for c in sorted(migrated - modelled)]
    finally:
        engine.dispose()
    return differences


def tables_and_functions(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            functions: set[str] = set()
            if connection.dialect.name == "postgresql":
                functions = set(
                    connection.execute(
                        text("SELECT proname FROM pg_proc WHERE proname LIKE 'gp\\_%'")
                    ).scalars()
                )
    finally:
        engine.dispose()
    return tables, functions


def test_every_migration_goes_up_then_down_to_base_then_up_again(unmigrated_url: str) -> None:
    walked_up = []
    for revision in REVISIONS:
        migrate.migrate_to(unmigrated_url, revision)
        walked_up.append(migrate.current_revision(unmigrated_url))
    at_head = tables_and_functions(unmigrated_url)

    walked_down = []
    for revision in [*reversed(REVISIONS[:-1]), migrate.BASE]:
        migrate.migrate_to(unmigrated_url, revision)
        walked_down.append(migrate.current_revision(unmigrated_url) or migrate.BASE)
    at_base = tables_and_functions(unmigrated_url)

    migrate.upgrade_to_head(unmigrated_url)

    assert walked_up == REVISIONS
    assert walked_down == [*reversed(REVISIONS[:-1]), migrate.BASE]
    assert at_head[0] == {*metadata.tables, "alembic_version"}
    assert at_base == ({"alembic_version"}, set())  # the downgrades leave nothing behind
    assert tables_and_functions(unmigrated_url) == at_head
    assert schema_drift(unmigrated_url) == []


def test_the_models_and_the_migrations_agree(migrated_url: str) -> None:
    assert schema_drift(migrated_url) == []


def test_the_drift_check_sees_a_model_the_migrations_do_not_have(migrated_url: str) -> None:
    changed = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["wallets"].append_column(Column("nickname_length", Integer, nullable=True))
    changed.tables["users"].append_constraint(CheckConstraint("length(email) > 3", name="ck_users_email"))

    differences = schema_drift(migrated_url, changed)

    assert [d[0] for d in differences] == ["add_column", "check only in the models"]
    assert differences[0][2:] == ("wallets", changed.tables["wallets"].c.nickname_length)
    assert differences[1][1:] == ("users", "ck_users_email")


def gopherpayd_migrate(data_dir: Path, *args: str, database_url: str = "") -> Any:
    env = {"GOPHERPAY_DATA_DIR": str(data_dir), "GOPHERPAY_DATABASE_URL": database_url}
    return CliRunner().invoke(app, ["migrate", *args], env=env)


def test_migrate_shows_history_and_current_and_goes_to_a_revision_and_back(tmp_path: Path) -> None:
    before = gopherpayd_migrate(tmp_path, "--current")
    migrated = gopherpayd_migrate(tmp_path)
    at_head = gopherpayd_migrate(tmp_path, "--current")
    down = gopherpayd_migrate(tmp_path, "--to", REVISIONS[-2], "--yes")
    history = gopherpayd_migrate(tmp_path, "--history")
    up = gopherpayd_migrate(tmp_path, "--to", "head")
    again = gopherpayd_migrate(tmp_path, "--to", HEAD)

    assert [r.exit_code for r in (before, migrated, at_head, down, history, up, again)] == [0] * 7
    assert before.stdout == "base (no migration applied)\n"
    assert at_head.stdout == f"{HEAD} (head)\n"
    assert f"migrated the database from {HEAD} to {REVISIONS[-2]}" in down.stderr
    lines = history.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(reversed(REVISIONS))
    assert lines[0] == f"{HEAD} (head)  {TITLES[HEAD]}"
    assert lines[1] == f"{REVISIONS[-2]} (current)  {TITLES[REVISIONS[-2]]}"
    assert f"migrated the database from {REVISIONS[-2]} to {HEAD}" in up.stderr
    assert f"the database is already at {HEAD}; nothing changed" in again.stderr


def test_migrate_refuses_an_unknown_revision_and_an_unconfirmed_downgrade(tmp_path: Path) -> None:
    assert gopherpayd_migrate(tmp_path).exit_code == 0

    unknown = gopherpayd_migrate(tmp_path, "--to", "20991231_0009")
    ambiguous = gopherpayd_migrate(tmp_path, "--to", "2026")
    two_at_once = gopherpayd_migrate(tmp_path, "--to", "head", "--history")
    unconfirmed = gopherpayd_migrate(tmp_path, "--to", "base")

    assert (unknown.exit_code, ambiguous.exit_code, two_at_once.exit_code) == (2, 2, 2)
    assert unknown.stderr == (
        "gopherpayd: --to: '20991231_0009' is not a known revision; "
        f"known: base, {', '.join(REVISIONS)} (head)\n"
    )
    assert "'2026' matches several revisions" in ambiguous.stderr
    assert "--history, --current and --to go one at a time" in two_at_once.stderr
    assert unconfirmed.exit_code == 1
    assert isinstance(unconfirmed.exception, SystemExit)  # an exit, not a traceback
    assert "not confirmed: no terminal to ask on; pass --yes" in unconfirmed.stderr
    assert gopherpayd_migrate(tmp_path, "--current").stdout == f"{HEAD} (head)\n"


def alembic(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Plain `alembic`, run from the top of the tree (where alembic.ini is), without our settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GOPHERPAY_", "GOPHERPAYD_"))}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True
    )


def test_operators_can_run_alembic_itself_on_the_daemons_database(
    unmigrated_url: str, tmp_path: Path
) -> None:
    env = {"GOPHERPAY_DATA_DIR": str(tmp_path / "data"), "GOPHERPAY_DATABASE_URL": unmigrated_url}

    upgraded = alembic(env, "upgrade", "head")
    current = alembic(env, "current")
    history = alembic(env, "history")
    downgraded = alembic(env, "downgrade", "-1")

    assert [p.returncode for p in (upgraded, current, history, downgraded)] == [0] * 4, upgraded.stderr
    assert f"Running upgrade {REVISIONS[-2]} -> {HEAD}" in upgraded.stderr
    assert current.stdout.strip() == f"{HEAD} (head)"
    assert f"{REVISIONS[-2]} -> {HEAD} (head)" in history.stdout
    assert migrate.current_revision(unmigrated_url) == REVISIONS[-2]


def test_alembic_without_a_database_url_uses_the_embedded_default_private_file(tmp_path: Path) -> None:
    upgraded = alembic({"GOPHERPAY_DATA_DIR": str(tmp_path / "data")}, "upgrade", "head")

    assert upgraded.returncode == 0, upgraded.stderr
    database = tmp_path / "data" / "gopherpay.db"
    assert migrate.current_revision(f"sqlite:///{database}") == HEAD
    assert (oct(database.stat().st_mode & 0o777), oct(database.parent.stat().st_mode & 0o777)) == (
        "0o600",
        "0o700",
    )
