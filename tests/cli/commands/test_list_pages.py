"""sessions list, wallets list, tokens list and currencies page as history does: --limit,
--cursor, --all page by page, --json with the next cursor; balance fetches every wallet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gopherpayd.wallets.currencies import CURRENCIES
from tests.cli.conftest import AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, paged_list
from tests.cli.terminal import run_in_terminal

CODES = sorted(CURRENCIES)
WHEN = "2026-11-26T16:34:27.123456Z"


def session_item(number: int) -> dict[str, Any]:
    return {
        "id": f"5e551011-0000-4000-8000-{number:012d}",
        "created_at": WHEN,
        "last_used_at": WHEN,
        "expires_at": "2026-12-26T16:34:27Z",
        "revoked_at": None,
        "user_agent": "gopherpay/1.0",
        "client_ip": "127.0.0.1",
        "current": number == 0,
    }


def wallet_item(number: int) -> dict[str, Any]:
    return {
        "id": f"a11e7000-0000-4000-8000-{number:012d}",
        "currency": CODES[number % len(CODES)],
        "balance": number,
        "frozen": False,
        "created_at": WHEN,
        "closed_at": None,
    }


def token_item(number: int) -> dict[str, Any]:
    return {
        "id": f"70ce4000-0000-4000-8000-{number:012d}",
        "name": f"ci-{number}",
        "scope": "read",
        "prefix": "gpt_abcd",
        "created_at": WHEN,
        "expires_at": None,
        "last_used_at": None,
        "revoked_at": None,
    }


def currency_item(number: int) -> dict[str, Any]:
    currency = CURRENCIES[CODES[number % len(CODES)]]
    return {"code": currency.code, "exponent": currency.exponent, "name": f"{currency.name} {number}"}


@dataclass(frozen=True)
class Listing:
    command: tuple[str, ...]
    path: str
    item: Callable[[int], dict[str, Any]]
    key: str
    """A field that tells the items apart in the table (tab-separated off a terminal)."""

    def items(self, count: int) -> list[dict[str, Any]]:
        return [self.item(number) for number in range(count)]


LISTINGS = [
    Listing(("sessions", "list"), "/v1/sessions", session_item, "id"),
    Listing(("wallets", "list"), "/v1/wallets", wallet_item, "id"),
    Listing(("tokens", "list"), "/v1/tokens", token_item, "id"),
    Listing(("currencies",), "/v1/currencies", currency_item, "name"),
]
EACH = pytest.mark.parametrize("listing", LISTINGS, ids=lambda listing: " ".join(listing.command))


@EACH
def test_all_fetches_every_page_and_prints_one_json_document(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    daemon.on("GET", listing.path, paged_list(listing.items(450)))

    result = gopherpay(*listing.command, "--all", "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"items": listing.items(450), "next_cursor": None}
    assert [request.query for request in daemon.seen("GET", listing.path)] == [
        {"limit": "200"},
        {"limit": "200", "cursor": "at-200"},
        {"limit": "200", "cursor": "at-400"},
    ]


@EACH
def test_all_prints_every_row_of_every_page_under_one_header(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    daemon.on("GET", listing.path, paged_list(listing.items(450)))

    result = gopherpay(*listing.command, "--all", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert len(rows) == 450
    assert header not in rows
    for row, item in zip(rows, listing.items(450), strict=True):
        assert str(item[listing.key]) in row


@EACH
def test_json_without_all_prints_one_page_and_the_next_cursor(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    daemon.on("GET", listing.path, paged_list(listing.items(120)))

    result = gopherpay(*listing.command, "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"items": listing.items(50), "next_cursor": "at-50"}
    assert [request.query for request in daemon.seen("GET", listing.path)] == [{"limit": "50"}]


@EACH
def test_cursor_and_limit_go_on_where_an_earlier_page_ended(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    daemon.on("GET", listing.path, paged_list(listing.items(10)))

    first = gopherpay(*listing.command, "--limit", "4", "--json", env=AS_ALICE)
    cursor = json.loads(first.stdout)["next_cursor"]
    rest = gopherpay(*listing.command, "--cursor", cursor, "--json", env=AS_ALICE)
    tail = gopherpay(*listing.command, "--cursor", cursor, "--all", "--json", env=AS_ALICE)

    assert (first.exit_code, rest.exit_code, tail.exit_code) == (0, 0, 0), rest.stderr
    assert json.loads(first.stdout)["items"] == listing.items(4)
    assert json.loads(rest.stdout) == {"items": listing.items(10)[4:], "next_cursor": None}
    assert json.loads(tail.stdout) == {"items": listing.items(10)[4:], "next_cursor": None}
    assert [request.query.get("cursor") for request in daemon.seen("GET", listing.path)] == [
        None,
        "at-4",
        "at-4",
    ]


@EACH
def test_a_cursor_the_daemon_did_not_issue_is_its_error(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    daemon.on("GET", listing.path, paged_list(listing.items(3)))

    result = gopherpay(*listing.command, "--cursor", "made-up", env=AS_ALICE)

    assert (result.exit_code, result.stdout) == (2, "")  # a 400: what was asked is wrong
    assert result.stderr == "Error: Cursor is not one this server issued\n"


@EACH
def test_a_limit_below_1_is_a_usage_error_before_any_request(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], listing: Listing
) -> None:
    result = gopherpay(*listing.command, "--limit", "0", env=AS_ALICE)

    assert result.exit_code == 2
    assert daemon.requests == []


def test_all_prints_the_first_rows_before_the_last_page_is_fetched(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    last_page = threading.Event()
    daemon.on("GET", "/v1/sessions", paged_list([session_item(n) for n in range(450)], last_page))
    process = subprocess.Popen(
        [sys.executable, "-m", "gopherpay_cli", "sessions", "list", "--all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**cli_env, **AS_ALICE},
        text=True,
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline()
        first_row = process.stdout.readline()
        # Still here: the last page is held back until the event is set.
        last_page.set()
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0
    finally:
        last_page.set()
        process.kill()
        process.wait()

    assert header.split("\t")[0] == "id"
    assert first_row.startswith(session_item(0)["id"] + " (this one)\t")
    assert len(rest.splitlines()) == 449


def test_all_to_a_file_counts_the_items_fetched_on_a_terminal_stderr(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/tokens", paged_list([token_item(n) for n in range(450)]))

    on_terminal = run_in_terminal(
        "tokens", "list", "--all", env={**cli_env, **AS_ALICE}, stderr_is_terminal=True
    )

    assert on_terminal.exit_code == 0
    assert b"Fetched" in on_terminal.terminal
    assert b"450 tokens" in on_terminal.terminal
    assert len(on_terminal.stdout.splitlines()) == 1 + 450


def test_currencies_page_without_logging_in(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/currencies", paged_list([currency_item(n) for n in range(250)]))

    result = gopherpay("currencies", "--all", "--json")

    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["items"]) == 250
    assert [r.headers.get("authorization") for r in daemon.seen("GET", "/v1/currencies")] == [None, None]


def test_balance_without_a_currency_shows_every_wallet_of_every_page(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    wallets = [wallet_item(number) for number in range(230)]
    daemon.on("GET", "/v1/wallets", paged_list(wallets))

    table = gopherpay("balance", env=AS_ALICE)
    as_json = gopherpay("balance", "--json", env=AS_ALICE)

    assert table.exit_code == 0, table.stderr
    assert len(table.stdout.splitlines()) == 1 + 230
    assert json.loads(as_json.stdout) == {"items": wallets, "next_cursor": None}
    assert [r.query.get("cursor") for r in daemon.seen("GET", "/v1/wallets")] == [None, "at-200"] * 2
