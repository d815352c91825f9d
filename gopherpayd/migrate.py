"""Apply the Alembic migrations shipped in the top-level `migrations` package."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool, text

import migrations

# Several daemons starting at once against one Postgres take turns migrating.
MIGRATION_LOCK_KEY = 0x6770_6179  # "gpay"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    config = alembic_config(database_url)
    if not database_url.startswith("postgresql"):
        command.upgrade(config, "head")
        return
    engine = create_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
    engine.dispose()


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
