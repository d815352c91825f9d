"""FX through the real executables: a daemon started with a rates file, an operator setting a
rate with `gopherpay admin rates set`, a customer's `fx quote` and `balance --in`; and, on both
backends, `gopherpay exchange` between one's own wallets and `transfer --receive` paying
someone in another currency, each quote used once."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gopherpayd.kit.db import Database
from tests.e2e.helpers import (
    UUID,
    Cli,
    CliFactory,
    Operator,
    details,
    run_gopherpayd,
    sign_up,
    table,
)
from tests.support.api import Api
from tests.support.daemon import RunningDaemon, daemon_env, executable, free_port, run_daemon
from tests.support.databases import empty_all_tables

pytestmark = pytest.mark.e2e

OPS_EMAIL, OPS_PASSWORD = "fx-ops@example.com", "fx-ops-password"
RATES = "# the start-up rates\nJPY USD 0.0067 1%\nUSD EUR 0.9\nUSD GBP 0.79 0.5%\n"
PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    data_dir = tmp_path_factory.mktemp("fx")
    rates = data_dir / "rates.txt"
    rates.write_text(RATES)
    with run_daemon(data_dir, GOPHERPAY_FX_RATES_FILE=str(rates)) as running:
        yield running


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """An operator (over the API) of a daemon started with the rates file: the module's embedded
    one (its `ops` admin), or one on an emptied Postgres database."""
    if request.param == "sqlite":
        request.getfixturevalue("ops")
        yield operator_of(request.getfixturevalue("daemon"), OPS_EMAIL, OPS_PASSWORD)
        return
    database_url = str(request.getfixturevalue("e2e_postgres_url"))
    database = Database(database_url)
    empty_all_tables(database)
    database.dispose()
    data_dir = tmp_path_factory.mktemp("fx-postgres")
    rates = data_dir / "rates.txt"
    rates.write_text(RATES)
    with run_daemon(data_dir, database_url, GOPHERPAY_FX_RATES_FILE=str(rates)) as running:
        created = run_gopherpayd(
            running, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
        )
        assert created.returncode == 0, created.transcript()
        yield operator_of(running, OPS_EMAIL, OPS_PASSWORD)


def operator_of(daemon: RunningDaemon, email: str, password: str) -> Operator:
    return Operator(Api(httpx.Client(base_url=daemon.url, timeout=30)), email, password)


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
        ["USD", "GBP", "0.79", "0.5%", "until replaced", "file", "yes"],
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
    assert (lines[0], lines[-1]) == (
        "currency\tavailable\trate\tin EUR",
        "Total available (indicative)\t230.32 EUR",
    )
    assert sorted(lines[1:-1]) == [
        "GBP\t0.00 GBP\t-\tnot converted",
        "JPY\t1,000 JPY\t-\tnot converted",
        "USD\t250.00 USD\t0.9213\t230.32 EUR",
    ]
    assert (
        "Indicative: the available balances (balance - held) at the current mid rates to EUR" in total.stderr
    )
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


def test_an_exchange_and_a_payment_received_in_another_currency_each_use_their_quote_once(
    backend: Operator, new_cli: CliFactory
) -> None:
    url = str(backend.api.client.base_url)
    dana, erik = new_cli(url, "fx-dana"), new_cli(url, "fx-erik")
    sign_up(dana, "fx-dana@example.com", "Dana", PASSWORD)
    sign_up(erik, "fx-erik@example.com", "Erik", PASSWORD)
    backend.deposit("fx-dana@example.com", 25_000)

    # 100.00 USD less the 0.5% spread (0.50 USD) at 0.79: 78.605 -> 78.60 GBP, into a GBP
    # wallet the exchange opens.
    exchanged = dana("exchange", "100", "USD", "GBP", "--memo", "holiday", "--yes")
    assert exchanged.returncode == 0, exchanged.transcript()
    shown = details(exchanged.stdout)
    quoted, done = exchanged.stderr.splitlines()
    assert quoted.startswith("Quote ") and ": 100.00 USD for 78.60 GBP at 0.79, locked until " in quoted
    assert done == f"Exchanged 100.00 USD for 78.60 GBP (transfer {shown['Transfer']})"
    assert (shown["Kind"], shown["Amount"], shown["Memo"]) == ("exchange", "100.00 USD", "holiday")
    assert shown["Exchange"] == "100.00 USD -> 78.60 GBP at 0.79, fee 0.50 USD"

    # 50.00 USD less 0.25 USD at 0.79: 39.3025 -> 39.30 GBP for erik, who had no GBP wallet.
    paid = dana("--json", "transfer", "50", "USD", "--to", "fx-erik@example.com", "--receive", "GBP", "--yes")
    assert paid.returncode == 0, paid.transcript()
    payment = paid.json()
    assert (payment["kind"], payment["amount"], payment["currency"], payment["direction"]) == (
        "fx_transfer",
        5_000,
        "USD",
        "out",
    )
    fx = payment["fx"]
    assert (fx["sell"], fx["sell_amount"], fx["buy"], fx["buy_amount"], fx["fee"]) == (
        "USD",
        5_000,
        "GBP",
        3_930,
        25,
    )

    # The same quote again, straight to the API through `gopherpay api`: refused, nothing moves.
    again = dana("api", "POST", "/v1/fx/exchange", "-f", f"quote_id={fx['quote_id']}")
    assert again.returncode == 4, again.transcript()
    assert again.stderr_lines[0].startswith(f"Error: Quote {fx['quote_id']} was used at ")

    balances = {wallet["currency"]: wallet for wallet in dana("balance", "--json").json()["items"]}
    assert {code: wallet["available"] for code, wallet in balances.items()} == {"USD": 10_000, "GBP": 7_860}
    received = erik("history")
    assert received.returncode == 0, received.transcript()
    [row] = table(received.stdout)[1]
    assert (row[1], row[2], row[3]) == ("fx_transfer", "in", "39.30 GBP")
    assert row[4] == "fx-dana@example.com (50.00 USD -> 39.30 GBP at 0.79, fee 0.25 USD)"
    assert erik("balance", "GBP", "--json").json()["available"] == 3_930
    audit = backend.api.audit(backend.api.login(backend.email, backend.password))
    assert audit["ok"] is True, audit
