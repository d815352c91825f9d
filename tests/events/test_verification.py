"""Email verification: a code sent at signup works once, expires, resists guessing, and
stands between an unverified person and sending money while the setting is on.

The code reaches the person through the `email-verification` workflow only; these
tests read it where that workflow's event is kept (the outbox, sealed under the
daemon's secret), and check the in-app inbox never shows it. The last test runs the
embedded default as a person would: the code comes from the daemon's log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from gopherpayd.events.dispatch import InProcessDispatcher
from gopherpayd.identity import verification
from gopherpayd.identity.models import EmailVerification
from gopherpayd.kit.clock import utcnow
from gopherpayd.kit.db import Database
from gopherpayd.notifications.handler import NotificationHandler
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.conftest import make_settings
from tests.e2e.helpers import Cli, Operator, run_gopherpayd, sign_up
from tests.identity.problems import assert_problem
from tests.support.api import Account, Api
from tests.support.daemon import run_daemon

CODE_TTL = 60


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The rule on (as in production), and codes that live a minute."""
    return make_settings(database_url, tmp_path, require_verified_email=True, verification_code_ttl=CODE_TTL)


def codes_sent(db: Database, account: Account) -> list[str]:
    """Every code sent to `account`, oldest first, opened from the workflow's outbox events."""
    rows = db.run(
        lambda s: s.exec(
            select(OutboxEvent)
            .where(
                OutboxEvent.aggregate_key == account.user_id,
                col(OutboxEvent.event_type) == "user.email_verification",
            )
            .order_by(col(OutboxEvent.user_seq))
        ).all()
    )
    return [open_sealed(account, row) for row in rows]


def open_sealed(account: Account, row: OutboxEvent) -> str:
    """The code in a verification event, opened with the tests' daemon secret."""
    sealed = json.loads(row.payload)["sealed_code"]
    return verification.open_code(make_settings("", Path()), account.user_id, sealed)


def latest_code(db: Database, account: Account) -> str:
    return codes_sent(db, account)[-1]


def wrong(code: str, offset: int = 1) -> str:
    return f"{(int(code) + offset) % 1_000_000:06d}"


def verify(client: TestClient, account: Account, code: str) -> httpx.Response:
    return client.post("/v1/auth/verify-email", json={"code": code}, headers=account.headers)


def resend(client: TestClient, account: Account) -> httpx.Response:
    return client.post("/v1/auth/verify-email/resend", headers=account.headers)


def is_verified(client: TestClient, account: Account) -> bool:
    return bool(client.get("/v1/me", headers=account.headers).json()["email_verified"])


def test_signup_sends_a_code_that_only_the_mailbox_sees(
    client: TestClient, db: Database, settings: Settings, alice: Account
) -> None:
    (event,) = db.run(
        lambda s: s.exec(
            select(OutboxEvent).where(
                OutboxEvent.aggregate_key == alice.user_id,
                col(OutboxEvent.event_type) == "user.email_verification",
            )
        ).all()
    )
    payload = json.loads(event.payload)
    assert payload.keys() == {"user_id", "email", "sealed_code", "expires_in"}
    code = verification.open_code(settings, alice.user_id, payload["sealed_code"])
    assert re.fullmatch(r"\d{6}", code), code
    assert payload["expires_in"] == CODE_TTL
    (stored,) = db.run(lambda s: s.exec(select(EmailVerification)).all())
    assert code not in stored.code_hash
    assert stored.expires_at - stored.created_at == timedelta(seconds=CODE_TTL)

    dispatcher = InProcessDispatcher(db, settings, NotificationHandler(db, settings))
    while dispatcher.run_once():
        pass
    shown = client.get("/v1/notifications", headers=alice.headers)

    assert [n["type"] for n in shown.json()["items"]] == ["user.signed_up"]
    assert f'"{code}"' not in shown.text
    assert not is_verified(client, alice)


def test_the_right_code_verifies_once(client: TestClient, db: Database, alice: Account) -> None:
    code = latest_code(db, alice)

    verified = verify(client, alice, code)
    again = verify(client, alice, code)

    assert verified.status_code == 200, verified.text
    assert (verified.json()["email"], verified.json()["email_verified"]) == (alice.email, True)
    assert is_verified(client, alice)
    assert_problem(again, 409, "already_verified")
    assert_problem(resend(client, alice), 409, "already_verified")


def test_a_wrong_code_is_refused(client: TestClient, db: Database, alice: Account) -> None:
    assert_problem(verify(client, alice, wrong(latest_code(db, alice))), 400, "invalid_verification_code")
    assert not is_verified(client, alice)


def test_after_five_wrong_codes_even_the_right_one_is_refused(
    client: TestClient, db: Database, alice: Account
) -> None:
    code = latest_code(db, alice)
    for offset in range(1, 6):
        assert_problem(verify(client, alice, wrong(code, offset)), 400, "invalid_verification_code")

    throttled = verify(client, alice, code)

    assert_problem(throttled, 429, "too_many_attempts")
    assert 1 <= int(throttled.headers["Retry-After"]) <= CODE_TTL
    assert not is_verified(client, alice)


def test_a_new_code_is_the_way_out_of_the_wrong_code_throttle(
    client: TestClient, db: Database, alice: Account
) -> None:
    code = latest_code(db, alice)
    for offset in range(1, 6):
        verify(client, alice, wrong(code, offset))
    assert resend(client, alice).status_code == 202

    assert verify(client, alice, latest_code(db, alice)).status_code == 200


def test_a_code_expires_after_its_lifetime(
    client: TestClient, db: Database, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = latest_code(db, alice)
    sent_at = utcnow()

    def clock_at(seconds: float) -> Callable[[], datetime]:
        return lambda: sent_at + timedelta(seconds=seconds)

    monkeypatch.setattr(verification, "utcnow", clock_at(CODE_TTL - 5))
    assert_problem(verify(client, alice, wrong(code)), 400, "invalid_verification_code")
    monkeypatch.setattr(verification, "utcnow", clock_at(CODE_TTL + 1))
    expired = verify(client, alice, code)

    assert_problem(expired, 400, "verification_code_expired")
    assert "gopherpay verify --resend" in expired.json()["detail"]
    assert not is_verified(client, alice)


def test_resending_retires_the_old_code(client: TestClient, db: Database, alice: Account) -> None:
    old = latest_code(db, alice)

    sent = resend(client, alice)
    new = latest_code(db, alice)

    assert sent.status_code == 202, sent.text
    assert sent.json() == {"sent": True, "email": alice.email, "expires_in": CODE_TTL}
    assert new != old
    assert_problem(verify(client, alice, old), 400, "invalid_verification_code")
    assert verify(client, alice, new).status_code == 200


def test_a_sixth_code_within_an_hour_is_refused(client: TestClient, db: Database, alice: Account) -> None:
    for _ in range(4):  # the signup's code and four more make five
        assert resend(client, alice).status_code == 202

    refused = resend(client, alice)

    assert_problem(refused, 429, "too_many_attempts")
    assert int(refused.headers["Retry-After"]) > 0
    assert len(codes_sent(db, alice)) == 5
    assert verify(client, alice, latest_code(db, alice)).status_code == 200


def test_unverified_people_cannot_send_money_until_they_verify(
    client: TestClient, db: Database, api: Api, admin: Account, alice: Account, bob: Account
) -> None:
    api.deposit(admin, alice.email, 10_000)

    refused = api.transfer(alice, bob.email, 2_500)

    body = assert_problem(refused, 403, "email_not_verified")
    assert "gopherpay verify" in body["detail"]
    assert api.balance(alice) == 10_000
    assert client.get("/v1/wallets", headers=bob.headers).json()["items"] == []
    history = client.get("/v1/transfers", headers=alice.headers).json()["items"]
    assert [t["kind"] for t in history] == ["deposit"]

    assert verify(client, alice, latest_code(db, alice)).status_code == 200
    sent = api.transfer(alice, bob.email, 2_500)

    assert sent.status_code == 201, sent.text
    assert (api.balance(alice), api.balance(bob)) == (7_500, 2_500)


@pytest.mark.e2e
def test_the_embedded_default_writes_the_code_to_its_log(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home-alice")
    with run_daemon(tmp_path_factory.mktemp("gopherpayd"), GOPHERPAY_REQUIRE_VERIFIED_EMAIL="true") as daemon:
        created = run_gopherpayd(
            daemon, "create-admin", "--email", "ops@example.com", "--password-stdin", input="ops-pass-1\n"
        )
        assert created.returncode == 0, created.transcript()
        alice = Cli(home, daemon.url)
        sign_up(alice, "alice@example.com", "Alice Liddell", "alice-password")
        bob = Cli(tmp_path_factory.mktemp("home-bob"), daemon.url)
        sign_up(bob, "bob@example.com", "Bob Builder", "bob-password")
        with httpx.Client(base_url=daemon.url, timeout=30) as http:
            Operator(Api(http), "ops@example.com", "ops-pass-1").deposit("alice@example.com", 5_000)

        refused = alice("transfer", "--yes", "10.00", "USD", "--to", "bob@example.com")
        logged = re.findall(r"email verification code for alice@example\.com: (\d{6})", daemon.log())
        code = logged[-1] if logged else "000000"
        mistyped = alice("verify", wrong(code))
        verified = alice("verify", code)
        sent = alice("transfer", "--yes", "10.00", "USD", "--to", "bob@example.com")

    assert (refused.returncode, refused.stdout) == (4, ""), refused.transcript()
    # The command is said once, in the hint.
    assert refused.stderr_lines == [
        "Error: Verify alice@example.com before sending money",
        "Verify your email first: gopherpay verify CODE (or gopherpay verify --resend)",
    ], refused.transcript()
    assert len(logged) == 1, daemon.log()
    assert (mistyped.returncode, mistyped.stderr_lines[0]) == (
        4,
        "Error: That is not the code we sent; check it and try again",
    ), mistyped.transcript()
    assert (verified.returncode, verified.stderr) == (0, "Email address alice@example.com verified.\n")
    assert sent.returncode == 0, sent.transcript()
    assert sent.stderr.startswith("Sent 10.00 USD to "), sent.transcript()
