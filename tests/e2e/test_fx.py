"""FX through the real executables: a daemon started with a rates file, an operator setting a
rate with `gopherpay admin rates set`, a customer's `fx quote` and `balance --in`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import UUID, Cli, CliFactory, details, run_gopherpayd, sign_up, table
from tests.support.daemon import RunningDaemon, daemon_env, executable, free_port, run_daemon

pytestmark = pytest.mark.e2e

OPS_EMAIL, OPS_PASSWORD = "fx-ops@example.com", "fx-ops-password"
RATES = "# the start-up rates\nJPY USD 0.0067 1%\nUSD EUR 0.9\n"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    data_dir = tmp_path_factory.mktemp("fx")
    rates = data_dir / "rates.txt"
    rates.write_text(RATES)
    with run_daemon(data_dir, GOPHERPAY_FX_RATES_FILE=str(rates)) as running:
        yield running


@pytest.fixture(scope="module")
def ops(daemon: RunningDaemon, new_cli: CliFactory) -> Cli:
    created = run_gopherpayd(
        daemon, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )
    assert created.returncode == 0, created.transcript()
    cli = new_cli(daemon.url, "fx-ops")
    login = cli(
        "--profile", "ops", "login", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )
    assert login.returncode == 0, login.transcript()
    return cli


def test_an_operator_sets_a_rate_and_a_customer_quotes_it_and_totals_their_wallets(
    daemon: RunningDaemon, ops: Cli, new_cli: CliFactory
) -> None:
    listed = ops("--profile", "ops", "admin", "rates", "list")
    assert table(listed.stdout)[1] == [
        ["JPY", "USD", "0.0067", "1%", "until replaced", "file", "yes"],
        ["USD", "EUR", "0.9", "0%", "until replaced", "file", "yes"],
    ]

    set_it = ops("--profile", "ops", "admin", "rates", "set", "USD", "EUR", "0.9213", "--spread", "0.5%")
    assert set_it.returncode == 0, set_it.transcript()
    assert set_it.stderr == "Set USD->EUR: 1 USD = 0.9213 EUR, spread 0.5%, valid until replaced.\n"

    carol = new_cli(daemon.url, "fx-carol")
    sign_up(carol, "fx-carol@example.com", "Carol", "carol-password-secret")
    for currency in ("JPY", "GBP"):
        assert carol("wallets", "open", currency).returncode == 0
    for amount, currency, reason in (("250", "USD", "funding"), ("1,000", "JPY", "funding")):
        deposit = ops(
            "--profile", "ops", "admin", "deposit", "fx-carol@example.com", amount, currency,
            "--reason", reason, "--yes",
        )  # fmt: skip
        assert deposit.returncode == 0, deposit.transcript()

    quote = carol("fx", "quote", "100", "USD", "EUR")
    assert quote.returncode == 0, quote.transcript()
    shown = details(quote.stdout)
    assert re.fullmatch(UUID, shown["Quote"])
    assert (shown["You pay"], shown["Fee (in that)"], shown["Received"]) == (
        "100.00 USD",
        "0.50 USD",
        "91.66 EUR",
    )
    assert shown["Rate"] == "1 USD = 0.9213 EUR, spread 0.5%"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+00:00", shown["Expires"])

    no_rate = carol("fx", "quote", "10", "GBP", "JPY")
    assert (no_rate.returncode, no_rate.stderr_lines[-1]) == (4, "See the rates: gopherpay fx rates")

    total = carol("balance", "--in", "EUR")
    assert total.returncode == 0, total.transcript()
    # 250.00 USD at 0.9213 = 230.325 -> 230.32 EUR; JPY has no rate to EUR; GBP holds nothing.
    lines = total.stdout.splitlines()
    assert (lines[0], lines[-1]) == ("currency\tbalance\trate\tin EUR", "Total (indicative)\t230.32 EUR")
    assert sorted(lines[1:-1]) == [
        "GBP\t0.00 GBP\t-\tnot converted",
        "JPY\t1,000 JPY\t-\tnot converted",
        "USD\t250.00 USD\t0.9213\t230.32 EUR",
    ]
    assert "Indicative: at the current mid rates to EUR" in total.stderr
    assert "Not converted (no rate to EUR): " in total.stderr


def test_serve_with_a_bad_rates_file_stops_in_one_line_naming_the_line(tmp_path: Path) -> None:
    rates = tmp_path / "rates.txt"
    rates.write_text("USD EUR 0.9213\nUSD XXX 1\n")
    env = daemon_env(tmp_path / "data", GOPHERPAY_FX_RATES_FILE=str(rates))

    completed = subprocess.run(
        [executable("gopherpayd"), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert completed.returncode == 2
    assert completed.stderr.startswith(
        f"gopherpayd: GOPHERPAY_FX_RATES_FILE {rates} line 2: 'XXX' is not a supported currency; supported: "
    )
    assert len(completed.stderr.splitlines()) == 1
