"""Where the CLI keeps its login, how it renews it, and how scripts bring their own token."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.helpers import LOGIN_HINT, Cli, CliFactory, Operator, details, sign_up, table
from tests.support.daemon import RunningDaemon, executable, run_daemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
FAIL_KEYRING = "keyring.backends.fail.Keyring"
ACCESS_TOKEN_TTL = 1
JWT_LEEWAY = 5
"""The daemon accepts an access token up to 5 seconds past its expiry (clock skew between daemons)."""


@pytest.fixture(scope="module")
def short_lived_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """Access tokens that expire after one second."""
    with run_daemon(
        tmp_path_factory.mktemp("gopherpayd-ttl"), GOPHERPAY_ACCESS_TOKEN_TTL=str(ACCESS_TOKEN_TTL)
    ) as running:
        yield running


@dataclass
class ExpiredLogins:
    """Carol and Dave logged in on their computers; both access tokens have since expired."""

    carol: Cli
    carol_before: dict[str, str]
    dave: Cli


@pytest.fixture(scope="module")
def expired_logins(short_lived_daemon: RunningDaemon, new_cli: CliFactory) -> ExpiredLogins:
    """Both logins are made first, so the tests that need them expired wait only once."""
    carol: Cli = new_cli(short_lived_daemon.url, "carol")
    dave: Cli = new_cli(short_lived_daemon.url, "dave")
    sign_up(carol, "carol@example.com", "Carol Danvers", PASSWORD)
    opened = carol("wallets", "open", "USD")
    assert opened.returncode == 0, opened.transcript()
    sign_up(dave, "dave@example.com", "Dave Lister", PASSWORD)
    carol_before = carol.stored_login()
    assert carol_before is not None
    # `exp` is a whole second at most ACCESS_TOKEN_TTL after the last login above.
    time.sleep(ACCESS_TOKEN_TTL + JWT_LEEWAY + 0.5)
    return ExpiredLogins(carol, carol_before, dave)


def api_signup(url: str, email: str, name: str = "Scripted User") -> None:
    response = httpx.post(
        f"{url}/v1/auth/signup", json={"email": email, "full_name": name, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 201, response.text


def api_login(url: str, email: str) -> dict[str, str]:
    response = httpx.post(f"{url}/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    pair: dict[str, str] = response.json()
    return pair


def test_an_expired_access_token_is_refreshed_and_the_refresh_token_rotated(
    short_lived_daemon: RunningDaemon, expired_logins: ExpiredLogins
) -> None:
    url = short_lived_daemon.url
    carol, before = expired_logins.carol, expired_logins.carol_before
    expired = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {before['access_token']}"})
    assert (expired.status_code, expired.json()["code"]) == (401, "token_expired")

    balance = carol("balance")

    assert (balance.returncode, balance.stderr) == (0, ""), balance.transcript()
    assert [row[:2] for row in table(balance.stdout)[1]] == [["USD", "0.00 USD"]]
    after = carol.stored_login()
    assert after is not None
    assert after["session_id"] == before["session_id"]
    assert after["email"] == "carol@example.com"
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]

    # Last, because it ends the session: the spent refresh token is refused, and
    # presenting it revokes everything renewed from it (RFC 9700).
    replayed = httpx.post(f"{url}/v1/auth/refresh", json={"refresh_token": before["refresh_token"]})
    assert (replayed.status_code, replayed.json()["code"]) == (401, "refresh_token_reused")
    locked_out = carol("balance")
    assert (locked_out.returncode, locked_out.stdout) == (3, "")
    assert locked_out.stderr_lines == ["Error: This session has been revoked; log in again", LOGIN_HINT]


def test_commands_started_together_after_expiry_share_one_refresh(expired_logins: ExpiredLogins) -> None:
    dave = expired_logins.dave
    before = dave.stored_login()
    assert before is not None

    processes = [
        subprocess.Popen(
            [executable("gopherpay"), "--json", "whoami"],
            env=dave.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outcomes = [(*process.communicate(timeout=60), process.returncode) for process in processes]

    for stdout, stderr, status in outcomes:
        assert (status, stderr) == (0, ""), stderr
        assert json.loads(stdout)["email"] == "dave@example.com"
    after = dave.stored_login()
    assert after is not None
    assert (after["session_id"], after["refresh_token"] != before["refresh_token"]) == (
        before["session_id"],
        True,
    )
    later = dave("--json", "whoami")
    assert later.returncode == 0, later.transcript()


def test_without_a_keyring_the_login_is_kept_in_a_file_only_the_user_can_read(
    daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    erin: Cli = new_cli(daemon.url, "erin", PYTHON_KEYRING_BACKEND=FAIL_KEYRING)
    api_signup(daemon.url, "erin@example.com", "Erin Hannon")

    login = erin("login", "--email", "erin@example.com", "--password-stdin", input=f"{PASSWORD}\n")

    assert (login.returncode, login.stdout) == (0, "")
    assert login.stderr_lines == [
        f"No usable keyring backend; storing credentials in {erin.credentials_file} (readable only by you).",
        f"Logged in to {daemon.url} as erin@example.com.",
    ]
    assert stat.S_IMODE(erin.credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(erin.credentials_file.parent.stat().st_mode) == 0o700
    assert not erin.keyring_file.exists()
    stored = json.loads(erin.credentials_file.read_text())
    assert list(stored) == [daemon.url]
    assert stored[daemon.url]["email"] == "erin@example.com"

    whoami = erin("whoami")
    assert (whoami.returncode, whoami.stderr) == (0, "")
    assert details(whoami.stdout)["Email"] == "erin@example.com"

    secrets = [PASSWORD, stored[daemon.url]["access_token"], stored[daemon.url]["refresh_token"]]
    for run in (login, whoami):
        for secret in secrets:
            assert secret not in run.stdout + run.stderr


def test_gopherpay_token_is_used_instead_of_a_stored_login(
    daemon: RunningDaemon, operator: Operator, new_cli: CliFactory
) -> None:
    api_signup(daemon.url, "frank@example.com", "Frank Castle")
    operator.deposit("frank@example.com", 2500)
    token = api_login(daemon.url, "frank@example.com")["access_token"]
    script: Cli = new_cli(daemon.url, "ci", GOPHERPAY_TOKEN=token)

    whoami = script("whoami")
    balance = script("balance")

    assert (whoami.returncode, whoami.stderr) == (0, ""), whoami.transcript()
    assert details(whoami.stdout)["Email"] == "frank@example.com"
    assert (balance.returncode, balance.stderr) == (0, ""), balance.transcript()
    assert [row[:2] for row in table(balance.stdout)[1]] == [["USD", "25.00 USD"]]
    assert not script.keyring_file.exists()
    assert not script.credentials_file.exists()


def test_an_invalid_gopherpay_token_is_an_authentication_failure(
    daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    script: Cli = new_cli(daemon.url, "ci", GOPHERPAY_TOKEN="not-a-token")

    whoami = script("whoami")

    assert (whoami.returncode, whoami.stdout) == (3, "")
    assert whoami.stderr_lines == [
        "Error: Access token is not valid",
        "The token in GOPHERPAY_TOKEN was refused. Set it to a live API token (gopherpay tokens create), "
        "or unset it to use your stored login.",
    ]
