"""No secret reaches the daemon's log, even at debug level and when a request fails.

A real daemon on Postgres (where, unlike the embedded default, no verification code
is logged on purpose) is driven through everything that handles a secret: sign-up,
login, refresh, email verification, a password change, a transfer, and a database
error nobody handles (a CHECK constraint the test adds, refusing one sign-up). Its
log must hold none of the hashes, tokens, codes and passwords involved; the failure
itself is logged, by constraint name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from gopherpayd.identity import verification
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.e2e.helpers import run_gopherpayd
from tests.events.live import postgres_database, wait_until
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon
from tests.support.log_secrets import LeakWatcher, leaks

pytestmark = pytest.mark.e2e

OPS_EMAIL, OPS_PASSWORD = "ops@example.com", "ops-password-secret"
REFUSED_NAME = "Refused By The Database"


@dataclass
class Setup:
    daemon: RunningDaemon
    database_url: str
    http: httpx.Client
    api: Api


@pytest.fixture(params=["text", "json"])
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    with (
        postgres_database("secrets") as database_url,
        run_daemon(
            tmp_path / "data",
            database_url,
            extra_args=["--log-level", "debug"],
            GOPHERPAY_JWT_SECRET=TEST_JWT_SECRET,
            GOPHERPAY_LOG_FORMAT=request.param,
        ) as daemon,
        httpx.Client(base_url=daemon.url, timeout=30) as http,
    ):
        yield Setup(daemon, database_url, http, Api(http))


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sent_codes(setup: Setup, tmp_path: Path, account: Account) -> list[str]:
    """The verification codes in the user's outbox events, opened with the daemon's secret."""
    settings = make_settings(setup.database_url, tmp_path)
    with psycopg.connect(libpq(setup.database_url)) as connection:
        rows = connection.execute(
            "SELECT payload FROM outbox WHERE aggregate_key = %s AND event_type = 'user.email_verification'",
            (account.user_id,),
        ).fetchall()
    payloads = [json.loads(payload) if isinstance(payload, str) else payload for (payload,) in rows]
    return [
        verification.open_code(settings, account.user_id, payload[verification.SEALED_CODE_KEY])
        for payload in payloads
    ]


@pytest.mark.slow
def test_the_debug_log_holds_no_hash_token_code_or_password(setup: Setup, tmp_path: Path) -> None:
    api, http = setup.api, setup.http
    created = run_gopherpayd(
        setup.daemon, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )
    assert created.returncode == 0, created.transcript()
    alice = api.signup("alice@example.com", password="alice-password-secret", name="Alice Liddell")
    bob = api.signup("bob@example.com", password="bob-password-secret", name="Bob Builder")
    refreshed = http.post("/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    tokens = [alice.access_token, alice.refresh_token, bob.access_token, bob.refresh_token]
    tokens += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    alice.access_token = refreshed.json()["access_token"]

    resent = http.post("/v1/auth/verify-email/resend", headers=alice.headers)
    assert resent.status_code == 202, resent.text
    codes = sent_codes(setup, tmp_path, alice)
    assert len(codes) == 2
    wrong = "000000" if codes[-1] != "000000" else "111111"
    assert http.post("/v1/auth/verify-email", json={"code": wrong}, headers=alice.headers).status_code == 400
    verified = http.post("/v1/auth/verify-email", json={"code": codes[-1]}, headers=alice.headers)
    assert verified.status_code == 200, verified.text

    ops = api.login(OPS_EMAIL, OPS_PASSWORD)
    tokens += [ops.access_token, ops.refresh_token]
    api.deposit(ops, alice.email, 10_000)
    paid = api.transfer(alice, bob.email, 1_234)
    assert paid.status_code == 201, paid.text
    changed = http.post(
        "/v1/me/password",
        json={"current_password": "bob-password-secret", "new_password": "bob-new-password-secret"},
        headers=bob.headers,
    )
    assert changed.status_code == 204, changed.text

    with psycopg.connect(libpq(setup.database_url), autocommit=True) as connection:
        connection.execute(
            f"ALTER TABLE users ADD CONSTRAINT refuses_a_name CHECK (full_name <> '{REFUSED_NAME}')"
        )
    refused = http.post(
        "/v1/auth/signup",
        json={"email": "carol@example.com", "full_name": REFUSED_NAME, "password": "carol-password-secret"},
    )
    assert refused.status_code == 500, refused.text
    log = wait_until(
        lambda: setup.daemon.log() if "refuses_a_name" in setup.daemon.log() else None,
        10,
        "the unhandled error in the log",
    )

    assert "unhandled IntegrityError" in log
    # The 500 names its request id, and the log line of the failure carries the same one.
    request_id = refused.json()["request_id"]
    assert refused.headers["x-request-id"] == request_id
    failure = [line for line in log.splitlines() if "unhandled IntegrityError" in line]
    if setup.daemon.env["GOPHERPAY_LOG_FORMAT"] == "json":
        records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        (unhandled,) = [record for record in records if record["message"] == "unhandled IntegrityError"]
        assert unhandled["request_id"] == request_id and "exception" in unhandled
        accessed = [record for record in records if record.get("path") == "/v1/auth/refresh"]
        assert accessed and all(record["status"] == 200 for record in accessed)
    else:
        assert failure and f"[req {request_id}]" in failure[0]
    # Access lines are there, at debug level too, and hold no token either (checked below).
    assert "/v1/auth/refresh" in log
    passwords = [OPS_PASSWORD, "alice-password-secret", "bob-password-secret", "bob-new-password-secret"]
    passwords.append("carol-password-secret")
    assert leaks(log, [*tokens, *codes, *passwords]) == []
    # The error is there, named by its constraint, without the values of the row it refused.
    assert "[SQL parameters hidden due to hide_parameters=True]" in log
    assert "Failing row contains" not in log


def test_the_watcher_on_the_test_process_catches_a_hash_in_a_logged_traceback() -> None:
    """The session-wide check reads what the in-process apps log; it must see a secret that
    reaches a traceback, not just a message."""
    watcher = LeakWatcher()
    logger = logging.getLogger("gopherpayd.test-watcher")
    logger.propagate = False  # these leaks are planted: keep them from the session-wide check
    logger.addHandler(watcher)
    try:
        try:
            raise ValueError("row (alice@example.com, $2b$04$" + "a" * 53 + ")")
        except ValueError:
            logger.error("unhandled ValueError", exc_info=True)
        logger.error("a JWT: %s", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eHgifQ.c2lnbmF0dXJlc2lnbmF0dXJl")
        logger.error("nothing secret here")
    finally:
        logger.removeHandler(watcher)

    assert watcher.found == [
        "gopherpayd.test-watcher: a bcrypt hash: $2b$04$" + "a" * 13 + "…",
        "gopherpayd.test-watcher: a JWT: eyJhbGciOiJIUzI1NiJ9…",
    ]
