"""Building blocks shared by the money-safety tests: people, money and operators."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from gopherpayd.admin import service as admin_service
from gopherpayd.admin.schemas import CashMovementRequest
from gopherpayd.identity import service as identity_service
from gopherpayd.identity.service import Principal
from gopherpayd.kit.db import Database
from gopherpayd.settings import Settings
from gopherpayd.transfers import engine
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.daemon import RunningDaemon, executable
from tests.support.databases import TEST_BCRYPT_ROUNDS

MakePrincipal = Callable[..., Principal]
Fund = Callable[..., None]
OperatorOf = Callable[[RunningDaemon], tuple[Api, Account]]


def settings_for(database_url: str, data_dir: Path) -> Settings:
    """Daemon settings for tests that pick their database themselves."""
    return Settings(
        environment="test",
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret="transfers-test-secret-" + "y" * 40,
        bcrypt_rounds=TEST_BCRYPT_ROUNDS,
    )


def create_principal(
    db: Database, settings: Settings, email: str, role: str = identity_service.USER_ROLE
) -> Principal:
    """Create a user through the identity service and return them as an authenticated caller."""
    name = email.split("@")[0].title()
    user = db.run(
        lambda s: identity_service.create_user(s, settings, email, name, DEFAULT_PASSWORD, role=role)
    )
    return Principal(user_id=user.id, session_id=uuid.uuid4(), email=user.email, role=user.role)


def deposit(db: Database, operator: Principal, user: Principal, amount: int, currency: str = "USD") -> None:
    """Money in from the outside world, through the admin service and the engine."""
    body = CashMovementRequest(user=user.email, amount=amount, currency=currency, reason="test funding")
    movement = db.run(lambda s: admin_service.cash_movement(s, operator, "deposit", body, str(uuid.uuid4())))
    [result] = engine.execute(db, [movement])
    assert result.status_code == 201, result.body


def create_admin(daemon: RunningDaemon, email: str) -> None:
    """`gopherpayd create-admin --password-stdin`, with the daemon's own environment."""
    completed = subprocess.run(
        [executable("gopherpayd"), "create-admin", "--email", email, "--password-stdin"],
        input=DEFAULT_PASSWORD + "\n",
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"created admin {email}" in completed.stderr
