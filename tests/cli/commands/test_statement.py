"""statement, through the real executable: the month in local time, the currency, the formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import AS_ALICE, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply

PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"


def sheet() -> dict[str, Any]:
    return {
        "currency": "USD",
        "since": "2026-10-31T23:00:00Z",
        "until": "2026-11-30T23:00:00Z",
        "opening_balance": 5_000,
        "total_in": 0,
        "total_out": 1_234,
        "closing_balance": 3_766,
        "lines": [{"transfer": transfer(), "amount": -1_234, "balance_after": 3_766}],
    }


def wallets(*codes: str) -> Reply:
    items = [{"id": f"w-{code}", "currency": code, "balance": 0, "frozen": False} for code in codes]
    return Reply(200, {"items": items})


def test_the_month_is_asked_for_in_local_days(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/statement", Reply(200, sheet()))

    result = gopherpay("statement", "2026-11", "--currency", "usd", env={**AS_ALICE, "TZ": PARIS})

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("GET", "/v1/statement")[0].query == {
        "currency": "USD",
        "since": "2026-11-01T00:00:00+01:00",
        "until": "2026-12-01T00:00:00+01:00",
    }
    assert result.stdout.splitlines() == [
        "Statement\tNovember 2026, USD",
        "Period\t2026-11-01 to 2026-11-30 (+01:00)",
        "Opening balance\t50.00 USD",
        "date (+01:00)\tcounterparty\tmemo\tamount\tbalance",
        "2026-11-26 17:34\tbob@example.com\tlunch\t-12.34 USD\t37.66 USD",
        "Money in\t0.00 USD",
        "Money out\t-12.34 USD",
        "Closing balance\t37.66 USD",
    ]


def test_csv_has_opening_and_closing_rows_around_signed_movements(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/statement", Reply(200, sheet()))

    result = gopherpay("statement", "2026-11", "--currency", "USD", "--csv", env=AS_ALICE)

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["date", "transfer_id", "kind"]
    assert [row[2] for row in rows[1:]] == ["opening_balance", "transfer", "closing_balance"]
    assert rows[2][1] == TRANSFER_ID and rows[2][5] == "-1234"
    assert int(rows[1][8]) + int(rows[2][5]) == int(rows[3][8]) == 3_766


def test_without_currency_the_only_wallet_is_used(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets", wallets("EUR"))
    daemon.on("GET", "/v1/statement", Reply(200, sheet() | {"currency": "EUR"}))

    result = gopherpay("statement", "2026-11", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("GET", "/v1/statement")[0].query["currency"] == "EUR"


def test_without_currency_and_several_wallets_it_asks_to_choose(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets", wallets("USD", "EUR"))

    result = gopherpay("statement", "2026-11", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: You have wallets in EUR, USD: choose one\n"
        "For example: gopherpay statement MONTH --currency EUR\n"
    )
    assert daemon.seen("GET", "/v1/statement") == []


@pytest.mark.parametrize("month", ["2026-13", "November", "2026-1", "26-11"])
def test_a_bad_month_is_a_usage_error_before_any_request(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], month: str
) -> None:
    result = gopherpay("statement", month, "--currency", "USD", env=AS_ALICE)

    assert (result.exit_code, result.stderr) == (2, f"Error: MONTH is written like 2026-11, got {month!r}\n")
    assert daemon.requests == []
