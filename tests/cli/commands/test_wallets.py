"""wallets list/open/close and balance, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.conftest import ALICE_USD_WALLET, AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, Reply, problem


def wallet(
    currency: str = "USD", balance: int = 123_456, wallet_id: str = ALICE_USD_WALLET
) -> dict[str, object]:
    return {
        "id": wallet_id,
        "currency": currency,
        "balance": balance,
        "frozen": False,
        "created_at": "2026-11-26T16:34:27Z",
        "closed_at": None,
    }


def test_balance_of_one_currency_asks_for_that_wallet(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, wallet()))

    result = gopherpay("--json", "balance", "usd", env=AS_ALICE)

    assert result.exit_code == 0
    assert json.loads(result.stdout) == wallet()


def test_balance_shows_major_units(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets", Reply(200, {"items": [wallet(), wallet("VND", 1_000_000, "w-vnd")]}))

    result = gopherpay("balance", env=AS_ALICE)

    assert "1,234.56 USD" in result.stdout
    assert "1,000,000 VND" in result.stdout


def test_balance_of_a_currency_without_wallet_exits_5(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    detail = "you have no EUR wallet; open one with: gopherpay wallets open EUR"
    daemon.on("GET", "/v1/wallets/EUR", problem(404, "wallet_not_found", detail))

    result = gopherpay("balance", "EUR", env=AS_ALICE)

    assert result.exit_code == 5
    assert result.stderr == "Error: You have no EUR wallet; open one with: gopherpay wallets open EUR\n"


def test_unsupported_currency_is_a_usage_error(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("wallets", "open", "XYZ", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Unsupported currency 'XYZ'. Supported: AUD, BHD, ")
    assert daemon.requests == []


def test_open_a_wallet(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/wallets", Reply(201, wallet("EUR", 0)))

    result = gopherpay("wallets", "open", "eur", env=AS_ALICE)

    assert result.exit_code == 0
    assert daemon.seen("POST", "/v1/wallets")[0].body == {"currency": "EUR"}
    assert result.stderr == f"Opened a EUR wallet (wallet {ALICE_USD_WALLET}).\n"


def test_closing_a_wallet_with_money_exits_4(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    detail = "wallet w holds 12.00 USD; send or withdraw it first"
    daemon.on("DELETE", "/v1/wallets/USD", problem(409, "wallet_not_empty", detail))

    result = gopherpay("wallets", "close", "USD", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr == (
        "Error: Wallet w holds 12.00 USD; send or withdraw it first\n"
        "Move the money out first: gopherpay transfer AMOUNT CURRENCY --to EMAIL\n"
    )
