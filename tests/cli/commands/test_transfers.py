"""transfer and history, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.cli.conftest import AS_ALICE, BOB_USD_WALLET, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, in_turn, problem

DEPOSIT_ID = "7f3a9c1e-1111-4000-8000-000000000002"
INCOMING_ID = "7f3a9c1e-1111-4000-8000-000000000003"


def deposit() -> dict[str, object]:
    outside = {"wallet_id": "5y5-usd", "user_id": None, "email": None, "full_name": None, "system": True}
    return transfer(amount=100_000, direction="in", transfer_id=DEPOSIT_ID, memo=None, kind="deposit") | {
        "sender": outside
    }


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1.234", "USD", "USD amounts have at most 2 decimals: 1.234"),
        ("0.5", "VND", "VND has no minor unit: 0.5 is not a whole number of VND"),
        ("0", "USD", "The amount must be greater than zero: 0"),
        ("1e3", "USD", "Not an amount: '1e3'. Write it like 1234.56 or 1,234.56"),
    ],
)
def test_bad_amount_is_a_usage_error_before_anything_is_sent(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], amount: str, currency: str, message: str
) -> None:
    result = gopherpay("transfer", amount, currency, "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert daemon.requests == []


def test_transfer_sends_minor_units_and_an_idempotency_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay("transfer", "12.34", "usd", "--to", "bob@example.com", "--memo", "lunch", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    sent = daemon.seen("POST", "/v1/transfers")[0]
    assert sent.body == {"amount": 1234, "currency": "USD", "to_email": "bob@example.com", "memo": "lunch"}
    assert len(sent.headers["idempotency-key"]) == 36
    assert result.stderr == f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"
    assert "12.34 USD" in result.stdout and TRANSFER_ID in result.stdout


def test_transfer_to_a_wallet_id(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    gopherpay("transfer", "1", "USD", "--to", BOB_USD_WALLET, env=AS_ALICE)

    assert daemon.seen("POST", "/v1/transfers")[0].body == {
        "amount": 100,
        "currency": "USD",
        "to_wallet_id": BOB_USD_WALLET,
    }


def test_transfer_json_prints_the_transfer_as_returned(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay("--json", "transfer", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert json.loads(result.stdout) == transfer()


def test_quiet_transfer_prints_no_message(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay(
        "--quiet", "--json", "transfer", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE
    )

    assert result.exit_code == 0
    assert result.stderr == ""


def test_recipient_must_be_an_email_or_a_wallet_id(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("transfer", "1", "USD", "--to", "bob", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == "Error: --to must be an email address or a wallet id, got 'bob'\n"


def test_history_follows_the_cursor_until_the_limit(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    first = {"items": [transfer(), deposit()], "next_cursor": "c2"}
    second = {"items": [transfer(transfer_id=INCOMING_ID, direction="in")], "next_cursor": "c3"}
    daemon.on("GET", "/v1/transfers", in_turn([Reply(200, first), Reply(200, second)]))

    result = gopherpay(
        "--json", "history", "--limit", "3", "--currency", "usd", "--direction", "in", env=AS_ALICE
    )

    assert result.exit_code == 0, result.stderr
    assert [r.query for r in daemon.seen("GET", "/v1/transfers")] == [
        {"currency": "USD", "direction": "in", "limit": "3"},
        {"currency": "USD", "direction": "in", "limit": "1", "cursor": "c2"},
    ]
    assert json.loads(result.stdout) == {"items": first["items"] + second["items"], "next_cursor": "c3"}


def test_history_stops_when_there_are_no_more_pages(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [transfer()], "next_cursor": None}))

    gopherpay("--json", "history", env=AS_ALICE)

    assert [r.query for r in daemon.requests] == [{"limit": "50"}]


def test_history_csv_has_raw_and_formatted_signed_amounts(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [transfer(), deposit()], "next_cursor": None}))

    result = gopherpay("history", "--csv", env=AS_ALICE)

    assert result.exit_code == 0
    assert result.stdout == (
        "created_at,id,kind,direction,amount_minor,currency,amount,counterparty,memo\n"
        f"2026-11-26T16:34:27.123456Z,{TRANSFER_ID},transfer,out,-1234,USD,-12.34 USD,bob@example.com,lunch\n"
        f'2026-11-26T16:34:27.123456Z,{DEPOSIT_ID},deposit,in,100000,USD,"1,000.00 USD",outside world,\n'
    )


def test_history_table_shows_signed_major_units_and_the_outside_world(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [transfer(), deposit()], "next_cursor": None}))

    result = gopherpay("history", env=AS_ALICE)

    rows = [line for line in result.stdout.splitlines() if TRANSFER_ID in line or DEPOSIT_ID in line]
    assert len(rows) == 2
    assert all(
        text in rows[0]
        for text in ("2026-11-26 16:34:27", "transfer", "out", "-12.34 USD", "bob@example.com")
    )
    assert all(text in rows[1] for text in ("deposit", "in", "1,000.00 USD", "outside world"))


def test_history_memo_cannot_send_escape_sequences_to_the_terminal(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    sneaky = transfer(memo="hi\x1b]0;pwned\x07there")
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [sneaky], "next_cursor": None}))

    result = gopherpay("history", env=AS_ALICE)

    assert "\x1b" not in result.stdout
    assert "hi\N{REPLACEMENT CHARACTER}]0;pwned\N{REPLACEMENT CHARACTER}there" in result.stdout


def test_history_rejects_a_bad_date_before_sending(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("history", "--since", "yesterday", env=AS_ALICE)

    assert result.exit_code == 2
    assert (
        result.stderr == "Error: --since takes a date like 2026-11-26 or an RFC 3339 time, got 'yesterday'\n"
    )
    assert daemon.requests == []


def test_history_csv_and_json_do_not_mix(gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("--json", "history", "--csv", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == "Error: Choose one of --csv and --json\n"


def test_sending_before_verifying_the_email_exits_4_and_says_how_to_verify(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        "/v1/transfers",
        problem(403, "email_not_verified", "alice@example.com has not verified their email address"),
    )

    result = gopherpay("transfer", "5", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr == (
        "Error: alice@example.com has not verified their email address\n"
        "Verify your email first: gopherpay verify CODE (or gopherpay verify --resend)\n"
    )
