"""Holds through the real executables: `gopherpay hold`, `holds capture` in two parts,
`holds void`, with the balance showing posted, held and available after each step."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.helpers import Cli, CliFactory, Operator, details, sign_up, table
from tests.support.daemon import RunningDaemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"


@dataclass
class People:
    hanna: Cli
    ivo: Cli


@pytest.fixture(scope="module")
def people(daemon: RunningDaemon, operator: Operator, new_cli: CliFactory) -> People:
    hanna: Cli = new_cli(daemon.url, "hanna")
    ivo: Cli = new_cli(daemon.url, "ivo")
    sign_up(hanna, "hanna@example.com", "Hanna Holder", PASSWORD)
    sign_up(ivo, "ivo@example.com", "Ivo Payee", PASSWORD)
    operator.deposit("hanna@example.com", 10_000)
    return People(hanna, ivo)


def usd(cli: Cli) -> list[str]:
    """(balance, held, available) of the USD wallet, as `balance USD` shows them."""
    shown = cli("balance", "USD")
    assert shown.returncode == 0, shown.transcript()
    header, [row] = table(shown.stdout)
    assert header[:4] == ["currency", "balance", "held", "available"]
    return row[1:4]


def test_hold_capture_twice_then_void_through_the_cli(people: People) -> None:
    placed = people.hanna(
        "hold", "50", "USD", "--to", "ivo@example.com", "--expires", "2d", "--memo", "deposit", "--yes"
    )
    assert placed.returncode == 0, placed.transcript()
    hold_id = details(placed.stdout)["Hold"]
    assert placed.stderr_lines[0] == f"Held 50.00 USD for ivo@example.com (hold {hold_id})"
    assert usd(people.hanna) == ["100.00 USD", "50.00 USD", "50.00 USD"]

    first = people.hanna("holds", "capture", hold_id, "15", "--yes")
    second = people.hanna("holds", "capture", hold_id, "10.50", "--yes")
    assert (first.returncode, second.returncode) == (0, 0), first.transcript() + second.transcript()
    assert details(second.stdout)["Remaining"] == "24.50 USD"
    assert usd(people.hanna) == ["74.50 USD", "24.50 USD", "50.00 USD"]
    assert usd(people.ivo) == ["25.50 USD", "0.00 USD", "25.50 USD"]

    declined = people.hanna("holds", "decline", hold_id, "--yes")
    assert declined.returncode == 4, declined.transcript()
    assert declined.stderr_lines[-1].startswith("Error: The payer of hold")

    voided = people.hanna("holds", "void", hold_id, "--yes")
    assert voided.returncode == 0, voided.transcript()
    assert details(voided.stdout)["Status"] == "voided"
    assert usd(people.hanna) == ["74.50 USD", "0.00 USD", "74.50 USD"]

    listed = people.ivo("holds")
    assert listed.returncode == 0, listed.transcript()
    header, rows = table(listed.stdout)
    assert [(row[1], row[2], row[3], row[5]) for row in rows] == [
        ("voided", "payee", "50.00 USD", "hanna@example.com")
    ]
    history = people.ivo("history", "--json")
    assert [t["amount"] for t in history.json()["items"]] == [1_050, 1_500]
