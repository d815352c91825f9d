"""The client address (sessions, new-login alerts, the per-address limit) is the peer's,
unless the peer is one of GOPHERPAY_TRUSTED_PROXIES: then it is the right-most
X-Forwarded-For hop that is not a trusted proxy. Nobody else can forge it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gopherpayd.settings import Settings
from tests.identity.conftest import ClientFactory
from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD, Api
from tests.support.daemon import run_daemon

PROXY = "10.0.0.5"


def login_via(client: TestClient | httpx.Client, forwarded: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return client.post(
        "/v1/auth/login", json={"email": "carol@example.com", "password": DEFAULT_PASSWORD}, headers=headers
    )


def session_ip(client: TestClient | httpx.Client, response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    sessions = client.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    (current,) = [s for s in sessions if s["current"]]
    return current["client_ip"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("forwarded", "seen"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left hop is the client's to forge
        ("203.0.113.9, 10.0.0.7", "203.0.113.9"),  # a second trusted proxy is skipped
        ("not-an-address, 203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, not-an-address", PROXY),  # garbage from beyond the proxy: the proxy's own
        (None, PROXY),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client(
    client_with: ClientFactory, forwarded: str | None, seen: str
) -> None:
    client = client_with(address=PROXY, trusted_proxies=["10.0.0.0/24"])
    Api(client).signup("carol@example.com")

    assert session_ip(client, login_via(client, forwarded)) == seen


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(client_with: ClientFactory) -> None:
    client = client_with(address="192.0.2.44", trusted_proxies=["10.0.0.0/24"])
    Api(client).signup("carol@example.com")

    assert session_ip(client, login_via(client, "203.0.113.9")) == "192.0.2.44"


def test_with_no_trusted_proxies_a_forged_header_changes_nothing(client_with: ClientFactory) -> None:
    client = client_with(address="127.0.0.1")
    Api(client).signup("carol@example.com")

    assert session_ip(client, login_via(client, "203.0.113.9")) == "127.0.0.1"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", []),
        ("false", []),
        ("10.0.0.5", ["10.0.0.5/32"]),
        ("10.0.0.5, 10.1.0.0/16", ["10.0.0.5/32", "10.1.0.0/16"]),
    ],
)
def test_trusted_proxies_are_read_as_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, parsed: list[str]
) -> None:
    monkeypatch.setenv("GOPHERPAY_TRUSTED_PROXIES", value)
    assert Settings(data_dir=tmp_path).trusted_proxies == parsed


@pytest.mark.parametrize("value", ["true", "10.0.0.x"])
def test_trusted_proxies_refuse_true_and_non_addresses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("GOPHERPAY_TRUSTED_PROXIES", value)
    with pytest.raises(ValueError, match="GOPHERPAY_TRUSTED_PROXIES"):
        Settings(data_dir=tmp_path)


@pytest.mark.e2e
def test_the_real_daemon_ignores_a_forged_forwarded_for_from_localhost(tmp_path: Path) -> None:
    # uvicorn's own proxy handling would believe X-Forwarded-For from 127.0.0.1.
    with (
        run_daemon(tmp_path / "daemon", GOPHERPAY_LOGIN_MAX_FAILURES_PER_ADDRESS="3") as daemon,
        httpx.Client(base_url=daemon.url, timeout=30) as http,
    ):
        Api(http).signup("carol@example.com")
        ip = session_ip(http, login_via(http, "203.0.113.9"))
        rotated = [
            http.post(
                "/v1/auth/login",
                json={"email": f"victim{n}@example.com", "password": "not-the-password"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            for n in range(4)
        ]

    assert ip == "127.0.0.1"
    assert [r.status_code for r in rotated[:3]] == [401, 401, 401]
    assert_problem(rotated[3], 429, "too_many_attempts")
