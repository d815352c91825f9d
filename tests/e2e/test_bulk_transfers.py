"""Paying a CSV file with the real `gopherpay` against a real daemon: each row exactly once,
however often the file is run, and a progress bar only for a person at a terminal."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.cli.terminal import run_in_terminal
from tests.e2e.helpers import Cli, CliFactory, Operator, sign_up
from tests.support.daemon import RunningDaemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
PAYEES = ("pia@example.com", "quinn@example.com")


@dataclass
class Payer:
    cli: Cli
    email: str
    server: str

    def balance(self, cli: Cli | None = None) -> int:
        login = (cli or self.cli).stored_login()
        assert login is not None
        response = httpx.get(
            f"{self.server}/v1/wallets/USD", headers={"Authorization": f"Bearer {login['access_token']}"}
        )
        if response.status_code == 404:
            return 0
        assert response.status_code == 200, response.text
        return int(response.json()["balance"])


@pytest.fixture(scope="module")
def payees(daemon: RunningDaemon, new_cli: CliFactory) -> dict[str, Cli]:
    clis = {}
    for email in PAYEES:
        cli: Cli = new_cli(daemon.url, email.split("@")[0])
        sign_up(cli, email, "Payee", PASSWORD)
        clis[email] = cli
    return clis


@pytest.fixture
def payer(
    daemon: RunningDaemon, operator: Operator, new_cli: CliFactory, request: pytest.FixtureRequest
) -> Payer:
    """Someone new for each test, with 1,000.00 USD."""
    email = f"payer-{request.node.name[5:40].replace('_', '-')}@example.com".lower()
    cli: Cli = new_cli(daemon.url, "payer")
    sign_up(cli, email, "Paula Payer", PASSWORD)
    operator.deposit(email, 100_000)
    return Payer(cli, email, daemon.url)


def payment_rows(count: int) -> list[str]:
    """Row i pays payee i % 2 between 0.01 and 0.99 USD, with a memo of its own."""
    return [f"{PAYEES[i % 2]},0.{i % 99 + 1:02d},USD,row {i}" for i in range(count)]


def write_file(path: Path, rows: list[str]) -> Path:
    path.write_text("to,amount,currency,memo\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def total_cents(rows: list[str]) -> dict[str, int]:
    totals = dict.fromkeys(PAYEES, 0)
    for to, amount, _currency, _memo in csv.reader(io.StringIO("\n".join(rows))):
        totals[to] += int(Decimal(amount) * 100)
    return totals


def results(stdout: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(stdout)))


def test_an_interrupted_run_then_a_rerun_pays_every_row_exactly_once(
    payer: Payer, payees: dict[str, Cli], tmp_path: Path
) -> None:
    rows = payment_rows(215)
    before = {email: payer.balance(cli) for email, cli in payees.items()}
    # The run that was cut off: it got through its first chunk (200 rows) and a part of the next.
    interrupted = payer.cli("transfer", "--from-file", str(write_file(tmp_path / "payroll.csv", rows[:205])))
    assert interrupted.returncode == 0, interrupted.transcript()

    rerun = payer.cli("transfer", "--from-file", str(write_file(tmp_path / "payroll.csv", rows)))

    assert rerun.returncode == 0, rerun.transcript()
    statuses = [line["status"] for line in results(rerun.stdout)]
    assert statuses == ["replayed"] * 205 + ["moved"] * 10
    assert (
        "Paid all 215 rows of payroll.csv (205 of them had been paid before, under the same keys)"
        in rerun.stderr
    )
    assert [line["transfer_id"] for line in results(rerun.stdout)][:205] == [
        line["transfer_id"] for line in results(interrupted.stdout)
    ]
    expected = total_cents(rows)
    assert {email: payer.balance(cli) - before[email] for email, cli in payees.items()} == expected
    assert payer.balance() == 100_000 - sum(expected.values())


def test_an_atomic_file_moves_nothing_when_a_row_is_refused_and_all_once_fixed(
    payer: Payer, payees: dict[str, Cli], tmp_path: Path
) -> None:
    bad = write_file(tmp_path / "atomic.csv", ["pia@example.com,1.00,USD,a", "nobody@example.com,1.00,USD,b"])

    refused = payer.cli("transfer", "--from-file", str(bad), "--atomic")

    assert refused.returncode == 5, refused.transcript()
    assert [(line["status"], line["code"]) for line in results(refused.stdout)] == [
        ("refused", "linked_failed"),
        ("refused", "recipient_not_found"),
    ]
    assert "Error: Nothing moved: row 2 was refused (recipient_not_found)" in refused.stderr
    assert payer.balance() == 100_000

    fixed = write_file(
        tmp_path / "atomic.csv", ["pia@example.com,1.00,USD,a", "quinn@example.com,1.00,USD,b"]
    )
    paid = payer.cli("transfer", "--from-file", str(fixed), "--atomic", "--json")

    assert paid.returncode == 0, paid.transcript()
    lines = [httpx.Response(200, content=line).json() for line in paid.stdout.splitlines()]
    assert [(line["row"], line["status"], line["transfer"]["amount"]) for line in lines] == [
        (1, 201, 100),
        (2, 201, 100),
    ]
    assert payer.balance() == 99_800
    # The same file on purpose a second time: a new prefix, new keys.
    twice = payer.cli("transfer", "--from-file", str(fixed), "--atomic", "--key-prefix", "december-")
    assert twice.returncode == 0, twice.transcript()
    assert [line["status"] for line in results(twice.stdout)] == ["moved", "moved"]
    assert payer.balance() == 99_600


def test_a_progress_bar_shows_on_a_terminal_and_never_in_a_pipe(
    payer: Payer, payees: dict[str, Cli], tmp_path: Path
) -> None:
    payments = write_file(tmp_path / "bar.csv", payment_rows(3))

    on_terminal = run_in_terminal(
        "transfer",
        "--from-file",
        str(payments),
        env=payer.cli.env(),
        stderr_is_terminal=True,
        cwd=str(payer.cli.home),
    )
    piped = payer.cli("transfer", "--from-file", str(payments))

    assert on_terminal.exit_code == 0, on_terminal.terminal
    assert b"Paying" in on_terminal.terminal
    assert b"3/3" in on_terminal.terminal
    assert b"Paying" not in on_terminal.stdout.encode()
    assert [line["status"] for line in results(on_terminal.stdout)] == ["moved"] * 3
    assert piped.returncode == 0, piped.transcript()
    assert "Paying" not in piped.stderr
    assert "\x1b" not in piped.stderr
    assert [line["status"] for line in results(piped.stdout)] == ["replayed"] * 3
