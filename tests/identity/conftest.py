"""Identity fixtures: apps built with other settings, on the same per-test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gopherpayd.app import create_app
from gopherpayd.kit.db import Database
from tests.conftest import make_settings

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_with(database_url: str, tmp_path: Path, db: Database) -> Iterator[ClientFactory]:
    """Build a TestClient whose settings differ from the defaults, e.g. client_with(bcrypt_rounds=8)."""
    opened: list[TestClient] = []

    def build(**overrides: object) -> TestClient:
        settings = make_settings(database_url, tmp_path, **overrides)
        test_client = TestClient(create_app(settings, db), raise_server_exceptions=False)
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield build
    for test_client in opened:
        test_client.__exit__(None, None, None)
