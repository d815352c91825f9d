"""Alembic environment: runs migrations against the URL the daemon's settings give.

`gopherpayd migrate` passes the URL (and, on Postgres, a connection that holds the migration
lock). Plain `alembic` (with the top-level alembic.ini) reads the daemon's own settings:
GOPHERPAY_DATABASE_URL, or the embedded SQLite file in the data directory.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from gopherpayd.kit.clock import UtcDateTime
from gopherpayd.migrate import migration_lock
from gopherpayd.tables import metadata

config = context.config


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from pydantic import ValidationError

    from gopherpayd.kit.files import private_sqlite_file, secure_data_dir
    from gopherpayd.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(item["msg"] for item in error.errors())
        raise SystemExit(f"invalid gopherpayd configuration: {problems}") from None
    # As the daemon does before it writes: the data directory 0700, the SQLite file 0600.
    secure_data_dir(settings.data_dir)
    private_sqlite_file(settings.effective_database_url)
    return settings.effective_database_url


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(_database_url(), poolclass=pool.NullPool)
        with engine.connect() as connection, migration_lock(connection):
            _run(connection)
            connection.commit()
        engine.dispose()
    else:
        _run(connectable)


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Autogenerate writes a UtcDateTime column as the type it is in the database, so that a
    migration stays frozen instead of importing the daemon's code."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if config.config_file_name is not None:
    # Run from alembic.ini: its logging sections show each step, as alembic's own template does.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `gopherpayd migrate`")
run_migrations_online()
