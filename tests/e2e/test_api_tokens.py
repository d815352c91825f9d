"""API tokens end to end: `gopherpay tokens create` on a real daemon, used by a script through
GOPHERPAY_TOKEN, held to its scope, and dead at once when revoked."""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import Cli, CliFactory, Operator, sign_up
from tests.support.daemon import RunningDaemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"


def test_a_read_token_reads_in_ci_cannot_send_and_stops_when_revoked(
    daemon: RunningDaemon, operator: Operator, new_cli: CliFactory
) -> None:
    tina: Cli = new_cli(daemon.url, "tina")
    sign_up(tina, "tina@example.com", "Tina Token", PASSWORD)
    sign_up(new_cli(daemon.url, "uma"), "uma@example.com", "Uma Payee", PASSWORD)
    operator.deposit("tina@example.com", 5000)
    created = tina("tokens", "create", "--name", "ci", "--scope", "read", "--expires", "30d")
    assert created.returncode == 0, created.transcript()
    token = created.stdout.strip()
    ci: Cli = new_cli(daemon.url, "ci", GOPHERPAY_TOKEN=token)

    balance = ci("balance", "USD", "--jq", ".balance")
    status = ci("auth", "status", "--json")
    me = ci("api", "GET", "/v1/me", "--jq", ".email")
    opened = ci("api", "POST", "/v1/wallets", "--field", "currency=EUR")
    refused = ci("--json", "transfer", "--yes", "1.00", "USD", "--to", "uma@example.com")
    listed = tina("tokens", "list", "--json")
    token_id = listed.json()["items"][0]["id"]
    revoked = tina("tokens", "revoke", token_id)
    after = ci("balance", "USD")

    assert token.startswith("gpt_") and token not in created.stderr
    assert (balance.returncode, balance.stdout) == (0, "5000\n"), balance.transcript()
    assert json.loads(status.stdout)["token_source"] == "environment"
    assert json.loads(status.stdout)["user"]["email"] == "tina@example.com"
    assert (me.returncode, me.stdout) == (0, "tina@example.com\n"), me.transcript()
    assert opened.returncode == 3 and "read scope" in opened.stderr
    assert refused.returncode == 3
    assert json.loads(refused.stderr)["code"] == "insufficient_scope"
    assert tina("balance", "USD", "--jq", ".balance").stdout == "5000\n"
    assert token not in listed.stdout
    assert revoked.returncode == 0, revoked.transcript()
    assert after.returncode == 3
    assert "has been revoked" in after.stderr


def test_a_transfer_token_sends_money_from_a_script(
    daemon: RunningDaemon, operator: Operator, new_cli: CliFactory
) -> None:
    vera: Cli = new_cli(daemon.url, "vera")
    sign_up(vera, "vera@example.com", "Vera Sender", PASSWORD)
    sign_up(new_cli(daemon.url, "walt"), "walt@example.com", "Walt Payee", PASSWORD)
    operator.deposit("vera@example.com", 5000)
    token = vera("tokens", "create", "--name", "payroll", "--scope", "transfer").stdout.strip()
    ci: Cli = new_cli(daemon.url, "ci", GOPHERPAY_TOKEN=token)

    sent = ci("transfer", "--yes", "12.34", "USD", "--to", "walt@example.com")
    minted = ci("tokens", "create", "--name", "more", "--scope", "transfer")

    assert sent.returncode == 0, sent.transcript()
    assert vera("balance", "USD", "--jq", ".balance").stdout == "3766\n"
    assert minted.returncode == 3
    assert "needs a login" in minted.stderr
