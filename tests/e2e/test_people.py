"""For people at a terminal, against a real daemon: the question before money moves, dry
runs, receipts, currencies, and a month's statement that adds up."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

import pytest

from gopherpay_cli.money import format_amount
from tests.e2e.helpers import Cli, CliFactory, Operator, sign_up
from tests.support.daemon import RunningDaemon, executable

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"
SGR = re.compile(r"\x1b\[[0-9;]*m")
"""Bold and the like: taken out of what the terminal showed, to read it as text."""


@dataclass
class People:
    """Petra, with 100.00 USD, and Quentin, whom she pays; both in Paris time."""

    petra: Cli
    quentin: Cli


@pytest.fixture(scope="module")
def people(daemon: RunningDaemon, operator: Operator, new_cli: CliFactory) -> People:
    petra: Cli = new_cli(daemon.url, "petra", TZ=PARIS)
    quentin: Cli = new_cli(daemon.url, "quentin", TZ=PARIS)
    sign_up(petra, "petra@example.com", "Petra Payer", PASSWORD)
    sign_up(quentin, "quentin@example.com", "Quentin Quill", PASSWORD)
    operator.deposit("petra@example.com", 10_000)
    return People(petra, quentin)


def in_terminal(cli: Cli, *args: str, answer: bytes | None = None, columns: int = 80) -> tuple[int, str]:
    """`gopherpay ARGS` with stdin, stdout and stderr on one pseudo-terminal of `columns`
    columns; `answer` is typed once a `[y/N] ` question shows."""
    master, slave = os.openpty()
    env = cli.env(COLUMNS=str(columns), LINES="24", TERM="xterm")
    try:
        process = subprocess.Popen(
            [executable("gopherpay"), *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cli.home
        )
    finally:
        os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown.extend(chunk)
            if answer is not None and shown.endswith(b"[y/N] "):
                os.write(master, answer)
                answer = None
        process.wait(timeout=60)
    finally:
        process.kill()
        os.close(master)
    return process.returncode, SGR.sub("", shown.decode().replace("\r\n", "\n"))


def test_a_transfer_on_a_terminal_asks_naming_the_payee_then_sends(people: People) -> None:
    code, shown = in_terminal(people.petra, "transfer", "12.34", "USD", "--to", "quentin@example.com",
                              "--memo", "lunch", answer=b"y\n")  # fmt: skip

    assert code == 0, shown
    assert shown.startswith(
        "  From:   Petra Payer <petra@example.com>\n"
        "  To:     Quentin Quill <quentin@example.com>\n"
        "  Amount: 12.34 USD\n"
        "  Fee:    0.00 USD\n"
        "  Memo:   lunch\n"
        "Send 12.34 USD to Quentin Quill <quentin@example.com>? [y/N] y\n"
        "Sent 12.34 USD to quentin@example.com (transfer "
    ), shown
    print(f"\n--- gopherpay transfer at 80 columns ---\n{shown}")


def test_no_moves_nothing_and_a_dry_run_moves_nothing(people: People) -> None:
    before = json.loads(people.petra("--json", "balance", "USD").stdout)["balance"]

    code, shown = in_terminal(
        people.petra, "transfer", "1", "USD", "--to", "quentin@example.com", answer=b"n\n"
    )
    dry = people.petra("transfer", "1", "USD", "--to", "quentin@example.com", "--dry-run")
    too_much = people.petra("transfer", "1000", "USD", "--to", "quentin@example.com", "--dry-run")
    piped = people.petra("transfer", "1", "USD", "--to", "quentin@example.com")

    assert code == 1 and shown.endswith("[y/N] n\nError: Cancelled: nothing moved\n"), shown
    assert dry.returncode == 0, dry.transcript()
    assert dry.stderr == (
        "Dry run: the daemon would send 1.00 USD to Quentin Quill <quentin@example.com>. Nothing moved.\n"
    )
    assert (too_much.returncode, too_much.stderr) == (
        4,
        f"Error: Your USD wallet has {format_amount(before, 'USD')}; the transfer needs 1,000.00 USD\n"
        "Check your balance: gopherpay balance USD\n",
    )
    assert piped.returncode == 2 and piped.stderr.startswith("Error: Not asking to send money: stdin is not")
    assert json.loads(people.petra("--json", "balance", "USD").stdout)["balance"] == before


def test_transfer_show_prints_a_receipt(people: People) -> None:
    sent = people.petra("--json", "transfer", "--yes", "2.50", "USD", "--to", "quentin@example.com")
    transfer_id = json.loads(sent.stdout)["id"]

    receipt = people.petra("transfer", "show", transfer_id)

    assert receipt.returncode == 0, receipt.transcript()
    lines = receipt.stdout.splitlines()
    assert lines[0] == "Receipt\ttransfer sent"
    assert lines[2:6] == [
        "From\tPetra Payer <petra@example.com>",
        "To\tQuentin Quill <quentin@example.com>",
        "Amount\t2.50 USD",
        "Fee\t0.00 USD",
    ]
    assert lines[-1] == f"Transfer id\t{transfer_id}"
    assert people.petra("transfer", "show", transfer_id[:8]).stdout == receipt.stdout
    assert people.petra("transfer", "show", "7f3a9c1e-0000-4000-8000-000000000000").returncode == 5


def test_currencies_lists_minor_units_without_a_login(daemon: RunningDaemon, new_cli: CliFactory) -> None:
    listed = new_cli(daemon.url, "nobody")("currencies")

    assert listed.returncode == 0, listed.transcript()
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["code", "name", "minor units", "example"]
    assert ["USD", "US Dollar", "2", "1,234.56 USD"] in rows
    assert ["JPY", "Yen", "0", "1,234 JPY"] in rows
    assert ["KWD", "Kuwaiti Dinar", "3", "1,234.567 KWD"] in rows


def test_the_statement_adds_up_in_json_csv_and_on_an_80_column_terminal(people: People) -> None:
    people.quentin("transfer", "--yes", "3.00", "USD", "--to", "petra@example.com", "--memo", "coffee back")
    month = datetime.now().astimezone().strftime("%Y-%m")  # the daemon runs on this machine's clock

    sheet = json.loads(people.petra("--json", "statement", month).stdout)
    as_csv = list(csv.reader(io.StringIO(people.petra("statement", month, "--csv").stdout)))
    balance = json.loads(people.petra("--json", "balance", "USD").stdout)["balance"]
    code, shown = in_terminal(people.petra, "statement", month)

    amounts = [line["amount"] for line in sheet["lines"]]
    assert amounts[0] == 10_000 and 300 in amounts
    assert sheet["opening_balance"] + sum(amounts) == sheet["closing_balance"] == balance
    assert sheet["total_in"] - sheet["total_out"] == sum(amounts)
    assert as_csv[1][2] == "opening_balance" and as_csv[-1][2] == "closing_balance"
    movements = [int(row[5]) for row in as_csv[2:-1]]
    assert int(as_csv[1][8]) + sum(movements) == int(as_csv[-1][8]) == balance
    assert code == 0, shown
    assert max(len(line) for line in shown.splitlines()) <= 80, shown
    assert "Opening balance" in shown and "Closing balance" in shown and "+01:00" in shown
    print(f"\n--- gopherpay statement {month} at 80 columns ---\n{shown}")


def test_history_at_80_columns_is_one_line_per_transfer(people: People) -> None:
    code, shown = in_terminal(people.petra, "history")

    assert code == 0, shown
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80, shown
    assert lines[0].split() == ["date", "(+01:00)", "amount", "counterparty", "memo", "id"]
    ids = [line.split()[-1] for line in lines[1:] if line.strip()]
    assert all(len(short) == 8 for short in ids), shown
    print(f"\n--- gopherpay history at 80 columns ---\n{shown}")
