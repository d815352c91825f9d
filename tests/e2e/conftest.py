"""End-to-end fixtures: real daemons, fresh computers for the people using the CLI, an operator."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.helpers import Cli, CliFactory, Operator, run_gopherpayd
from tests.support.api import Api
from tests.support.daemon import RunningDaemon, run_daemon
from tests.support.databases import create_postgres_database, drop_postgres_database

OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "operator-password"


@pytest.fixture(scope="session")
def new_cli(tmp_path_factory: pytest.TempPathFactory) -> CliFactory:
    """A fresh computer for one person: `new_cli(server_url, "alice", EXTRA_ENV="…")`."""

    def make(server: str | None, name: str = "user", *, echo: bool = False, **env: str) -> Cli:
        return Cli(home=tmp_path_factory.mktemp(f"home-{name}"), server=server, env_overrides=env, echo=echo)

    return make


@pytest.fixture(scope="session")
def e2e_postgres_url() -> Iterator[str]:
    """A migrated Postgres database of our own, apart from the one the API tests share."""
    name = f"gopherpay_e2e_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    yield create_postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """One daemon on the embedded default (a SQLite file in its data dir), shared by the modules
    whose tests each bring their own people (their own email addresses). They all sign up
    from 127.0.0.1: the per-address sign-up limit is lifted for it (its own tests have a
    daemon of their own)."""
    with run_daemon(
        tmp_path_factory.mktemp("gopherpayd"), GOPHERPAY_SIGNUP_MAX_PER_ADDRESS="1000"
    ) as running:
        yield running


@pytest.fixture(scope="session")
def operator(daemon: RunningDaemon) -> Iterator[Operator]:
    created = run_gopherpayd(
        daemon, "create-admin", "--email", OPERATOR_EMAIL, "--password-stdin", input=f"{OPERATOR_PASSWORD}\n"
    )
    assert created.returncode == 0, created.transcript()
    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        yield Operator(Api(client), OPERATOR_EMAIL, OPERATOR_PASSWORD)
