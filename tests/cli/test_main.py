"""Global options: before the command as documented, and also after it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.cli.conftest import AS_ALICE, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply

WALLETS = {"items": [], "next_cursor": None}


def test_json_before_the_command(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets", Reply(200, WALLETS))

    result = gopherpay("--json", "balance", env=AS_ALICE)

    assert json.loads(result.stdout) == WALLETS


def test_json_after_the_command(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets", Reply(200, WALLETS))

    result = gopherpay("balance", "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == WALLETS


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_quiet_after_the_command(daemon: FakeDaemon, gopherpay: Callable[..., Run], flag: str) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay("transfer", "--yes", "1", "USD", "--to", "bob@example.com", flag, env=AS_ALICE)

    assert result.exit_code == 0
    assert result.stderr == ""


def test_no_input_after_the_command(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("login", "--no-input")

    assert result.exit_code == 2
    assert result.stderr == "Error: --email is required when --no-input is set\n"


def test_no_command_shows_the_usage_as_a_usage_error(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay()

    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: gopherpay [OPTIONS] COMMAND [ARGS]...")


def test_unknown_option_is_a_usage_error(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("balance", "--password", "hunter2")

    assert result.exit_code == 2
    assert "No such option: --password" in result.stderr
