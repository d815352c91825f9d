"""The two backends really are what they claim to be."""

from gopherpayd.kit.db import Database


def test_each_backend_runs_on_its_own_database_engine(db: Database, backend: str) -> None:
    assert db.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
