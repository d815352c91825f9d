"""Shared fixtures: every API test runs on SQLite and on Postgres."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gopherpayd.app import create_app
from gopherpayd.identity import service as identity_service
from gopherpayd.kit.db import Database
from gopherpayd.migrate import upgrade_to_head
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import Role
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.databases import (
    TEST_BCRYPT_ROUNDS,
    create_empty_postgres_database,
    create_postgres_database,
    create_sqlite_database,
    drop_postgres_database,
    empty_all_tables,
)
from tests.support.log_secrets import LeakWatcher, leaks_in_logs

TEST_JWT_SECRET = "test-secret-" + "x" * 40
BACKENDS = ["sqlite", "postgres"]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    # The pid keeps two test runs on one machine (two engineers, CI) out of each other's way.
    name = f"gopherpay_test_{_worker()}_{os.getpid()}"
    yield create_postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return create_sqlite_database(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(params=BACKENDS)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (a SQLite file, a Postgres database), for migration tests;
    `@pytest.mark.parametrize("unmigrated_url", ["postgres"], indirect=True)` picks one backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"gopherpay_migration_{_worker()}_{uuid.uuid4().hex[:8]}"
    yield create_empty_postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture
def migrated_url(unmigrated_url: str) -> str:
    """The same, migrated to the newest revision."""
    upgrade_to_head(unmigrated_url)
    return unmigrated_url


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fails the run when a log a test left behind (daemons, relays, workers, under this
    run's temporary directory) or a record logged in this process (the in-process apps, at
    INFO and above) holds a bcrypt hash or a JWT."""
    watcher = LeakWatcher()
    daemon_logger = logging.getLogger("gopherpayd")
    previous_level = daemon_logger.level
    daemon_logger.setLevel(min(previous_level or logging.INFO, logging.INFO))
    logging.getLogger().addHandler(watcher)
    yield
    logging.getLogger().removeHandler(watcher)
    daemon_logger.setLevel(previous_level)
    found = {str(log): what for log, what in leaks_in_logs(tmp_path_factory.getbasetemp()).items()}
    if watcher.found:
        found["logged in the test process"] = watcher.found
    assert not found, "secrets in logs:\n" + "\n".join(
        f"{log}: {', '.join(what)}" for log, what in found.items()
    )


@pytest.fixture(scope="session")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture(scope="session")
def session_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def db(session_db: Database) -> Database:
    empty_all_tables(session_db)
    return session_db


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret": TEST_JWT_SECRET,
        "bcrypt_rounds": TEST_BCRYPT_ROUNDS,
        # Tests of the core flows opt out; tests of these features opt back in.
        "require_verified_email": False,
        "deliver_events_in_process": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def admin(api: Api, db: Database, settings: Settings) -> Account:
    email = "operator@example.com"
    db.run(
        lambda s: identity_service.create_user(
            s, settings, email, "Operator", DEFAULT_PASSWORD, role=Role.ADMIN
        )
    )
    return api.login(email)


@pytest.fixture
def alice(api: Api) -> Account:
    return api.signup("alice@example.com", name="Alice Liddell")


@pytest.fixture
def bob(api: Api) -> Account:
    return api.signup("bob@example.com", name="Bob Builder")
