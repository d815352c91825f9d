"""Identity fixtures: apps built with other settings, on the same per-test database."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gopherpayd.app import create_app
from gopherpayd.kit.db import Database
from tests.conftest import make_settings

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_with(database_url: str, tmp_path: Path, db: Database) -> Iterator[ClientFactory]:
    """Build a TestClient whose settings differ from the defaults, e.g. client_with(bcrypt_rounds=8);
    client_with(address="203.0.113.7") makes its requests come from that client address."""
    opened: list[TestClient] = []

    def build(address: str = "testclient", **overrides: object) -> TestClient:
        settings = make_settings(database_url, tmp_path, **overrides)
        test_client = TestClient(
            create_app(settings, db), raise_server_exceptions=False, client=(address, 50000)
        )
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield build
    for test_client in opened:
        test_client.__exit__(None, None, None)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` with a real uvicorn server on 127.0.0.1 in this process; yields its base URL.

    Real HTTP and real threads (unlike TestClient), while the test can still patch the
    daemon's functions, e.g. to hold requests inside bcrypt.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if server.started:
            break
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the test server did not start within 15 s")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def serve_with(database_url: str, tmp_path: Path, db: Database) -> Iterator[Callable[..., str]]:
    """serve_with(**settings overrides) -> the base URL of a real server running the app."""
    with ExitStack() as stack:

        def start(**overrides: object) -> str:
            settings = make_settings(database_url, tmp_path, **overrides)
            return stack.enter_context(serving(create_app(settings, db)))

        yield start
