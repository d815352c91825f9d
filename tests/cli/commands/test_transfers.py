"""transfer and history, through the real executable."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import AS_ALICE, BOB_USD_WALLET, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, in_turn, problem
from tests.cli.terminal import run_in_terminal

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
    result = gopherpay("transfer", "--yes", amount, currency, "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert daemon.requests == []


def test_transfer_sends_minor_units_and_an_idempotency_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay(
        "transfer", "--yes", "12.34", "usd", "--to", "bob@example.com", "--memo", "lunch", env=AS_ALICE
    )

    assert result.exit_code == 0, result.stderr
    sent = daemon.seen("POST", "/v1/transfers")[0]
    assert sent.body == {"amount": 1234, "currency": "USD", "to_email": "bob@example.com", "memo": "lunch"}
    assert len(sent.headers["idempotency-key"]) == 36
    assert result.stderr == f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"
    assert "12.34 USD" in result.stdout and TRANSFER_ID in result.stdout


def test_transfer_to_a_wallet_id(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    gopherpay("transfer", "--yes", "1", "USD", "--to", BOB_USD_WALLET, env=AS_ALICE)

    assert daemon.seen("POST", "/v1/transfers")[0].body == {
        "amount": 100,
        "currency": "USD",
        "to_wallet_id": BOB_USD_WALLET,
    }


def test_transfer_json_prints_the_transfer_as_returned(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay("--json", "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert json.loads(result.stdout) == transfer()


def test_quiet_transfer_prints_no_message(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/transfers", Reply(201, transfer()))

    result = gopherpay(
        "--quiet", "--json", "transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE
    )

    assert result.exit_code == 0
    assert result.stderr == ""


def test_recipient_must_be_an_email_or_a_wallet_id(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("transfer", "--yes", "1", "USD", "--to", "bob", env=AS_ALICE)

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


def csv_to_pipe(cli_env: dict[str, str], *args: str) -> bytes:
    """stdout of `gopherpay ARGS` into a pipe, byte for byte (no newline translation)."""
    completed = subprocess.run(
        [sys.executable, "-m", "gopherpay_cli", *args],
        capture_output=True,
        env={**cli_env, **AS_ALICE},
        timeout=60,
        check=True,
    )
    return completed.stdout


def parsed_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


HOSTILE_MEMOS = (
    "=1+2",
    "+SUM(A1:A9)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+2",
    '\r=HYPERLINK("http://evil.example")\rinjected,row',
    "  =1+2 after spaces\nand a second line",
    "hi\x1b]0;pwned\x07 \u202eevil\u202c \u2067isolate\u2069 \u200fmark",
)
FORMULA_EMAIL = "=1+2|cmd@example.com"


def hostile_history() -> dict[str, Any]:
    """8 transfers whose memos try to run formulas, inject rows and drive the terminal."""
    items = [
        transfer(transfer_id=f"7f3a9c1e-1111-4000-8000-00000000010{index}", memo=memo)
        for index, memo in enumerate(HOSTILE_MEMOS)
    ]
    items[0]["recipient"]["email"] = FORMULA_EMAIL
    return {"items": items, "next_cursor": None}


def test_history_csv_has_raw_and_formatted_signed_amounts(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [transfer(), deposit()], "next_cursor": None}))

    stdout = csv_to_pipe(cli_env, "history", "--csv")

    assert stdout.decode() == (
        "created_at,id,kind,direction,amount_minor,currency,amount,counterparty,memo\r\n"
        f"2026-11-26T16:34:27.123456Z,{TRANSFER_ID},transfer,out,-1234,USD,'-12.34 USD,"
        "bob@example.com,lunch\r\n"
        f'2026-11-26T16:34:27.123456Z,{DEPOSIT_ID},deposit,in,100000,USD,"1,000.00 USD",outside world,\r\n'
    )


def test_history_csv_of_hostile_memos_parses_back_one_row_per_transfer_with_no_live_formula(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, hostile_history()))

    header, *rows = parsed_csv(csv_to_pipe(cli_env, "history", "--csv"))

    assert len(rows) == 8
    memo, counterparty, amount_minor = (
        header.index(name) for name in ("memo", "counterparty", "amount_minor")
    )
    assert [row[memo] for row in rows] == [
        "'=1+2",
        "'+SUM(A1:A9)",
        "'-2+3+cmd|' /C calc'!A0",
        "'@SUM(1+1)*cmd|' /C calc'!A0",
        "'\t=1+2",
        '\'\r=HYPERLINK("http://evil.example")\rinjected,row',
        "'  =1+2 after spaces\nand a second line",
        HOSTILE_MEMOS[7],  # kept as it is: a file or a pipe gets the data
    ]
    assert rows[0][counterparty] == f"'{FORMULA_EMAIL}"
    assert {row[amount_minor] for row in rows} == {"-1234"}  # a number, not text


def test_history_csv_on_a_terminal_shows_no_control_or_bidi_characters(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, hostile_history()))

    shown = run_in_terminal("history", "--csv", env={**cli_env, **AS_ALICE}, stdout_is_terminal=True)

    assert (shown.exit_code, shown.stderr) == (0, "")
    text = shown.terminal.decode()
    # The terminal ends each line in CR LF itself; no other CR, no ESC, BEL or bidi control.
    assert not [char for char in text.replace("\r\n", "") if not char.isprintable()]
    lines = text.split("\r\n")
    assert len(lines) == 1 + 8 + 1 and lines[-1] == ""
    assert lines[8].endswith(
        ",hi\N{REPLACEMENT CHARACTER}]0;pwned\N{REPLACEMENT CHARACTER} \N{REPLACEMENT CHARACTER}evil"
        "\N{REPLACEMENT CHARACTER} \N{REPLACEMENT CHARACTER}isolate\N{REPLACEMENT CHARACTER} "
        "\N{REPLACEMENT CHARACTER}mark"
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
    # With --json, the error is JSON on stderr too.
    assert json.loads(result.stderr) == {
        "code": "usage_error",
        "detail": "Choose one of --csv and --json",
        "exit_code": 2,
    }


def test_sending_before_verifying_the_email_exits_4_and_says_how_to_verify(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        "/v1/transfers",
        problem(403, "email_not_verified", "alice@example.com has not verified their email address"),
    )

    result = gopherpay("transfer", "--yes", "5", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr == (
        "Error: alice@example.com has not verified their email address\n"
        "Verify your email first: gopherpay verify CODE (or gopherpay verify --resend)\n"
    )


@pytest.mark.parametrize(
    ("code", "detail", "said"),
    [
        (
            "insufficient_funds",
            "wallet a11ce000-0000-4000-8000-000000000001 has 5.00 USD, transfer needs 12.34 USD",
            "Your USD wallet has 5.00 USD; the transfer needs 12.34 USD",
        ),
        (
            "wallet_frozen",
            "sending wallet a11ce000-0000-4000-8000-000000000001 is frozen",
            "Your USD wallet is frozen",
        ),
        (
            "wallet_frozen",
            "receiving wallet b0b00000-0000-4000-8000-000000000001 is frozen",
            "The receiving wallet is frozen",
        ),
    ],
)
def test_refusals_name_the_wallet_as_you_know_it_not_its_id(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], code: str, detail: str, said: str
) -> None:
    daemon.on("POST", "/v1/transfers", problem(409, code, detail))

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr.splitlines()[0] == f"Error: {said}"
