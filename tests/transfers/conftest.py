"""Fixtures for the money-safety tests: people and money built through the services, and
databases of their own for tests that run a real `gopherpayd serve`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.vocabulary import Role
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon
from tests.support.databases import create_postgres_database, drop_postgres_database, empty_all_tables
from tests.transfers.helpers import Fund, MakePrincipal, OperatorOf, create_admin, create_principal, deposit


@pytest.fixture
def make_principal(db: Database, settings: Settings) -> MakePrincipal:
    def make(email: str, role: Role = Role.USER) -> Principal:
        return create_principal(db, settings, email, role)

    return make


@pytest.fixture
def operator(make_principal: MakePrincipal) -> Principal:
    return make_principal("operator@example.com", role=Role.ADMIN)


@pytest.fixture
def fund(db: Database, operator: Principal) -> Fund:
    def fund_user(user: Principal, amount: int, currency: str = "USD") -> None:
        deposit(db, operator, user, amount, currency)

    return fund_user


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    """The session's Postgres database, emptied, for tests that are about Postgres alone."""
    database = Database(postgres_url)
    empty_all_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def private_postgres_url() -> Iterator[str]:
    """A freshly migrated Postgres database for one test's daemon, dropped afterwards.

    A daemon test owns its database outright: no other test's TRUNCATE or pool can
    interfere with the load it puts on it, even when pytest-xdist runs tests side by side.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"gopherpay_transfers_{worker}_{uuid.uuid4().hex[:8]}"
    yield create_postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture
def operator_of() -> Iterator[OperatorOf]:
    """For a running daemon: an API client over real HTTP, and an operator made with
    `gopherpayd create-admin` and logged in."""
    clients: list[httpx.Client] = []

    def make(daemon: RunningDaemon) -> tuple[Api, Account]:
        client = httpx.Client(base_url=daemon.url, timeout=60.0)
        clients.append(client)
        create_admin(daemon, "operator@example.com")
        api = Api(client)
        return api, api.login("operator@example.com")

    yield make
    for client in clients:
        client.close()
