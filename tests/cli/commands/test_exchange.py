"""Executing FX quotes from the CLI, against the fake daemon: `exchange` between one's own
wallets, `transfer --receive` paying someone in another currency, and how an FX transfer
reads afterwards in the history and on a receipt."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.commands.test_confirm import kinds_of_requests, named, preview_or_move, run_in_terminal
from tests.cli.commands.test_fx import QUOTE_ID, quote_answer
from tests.cli.conftest import AS_ALICE, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, problem

FX = {
    "quote_id": QUOTE_ID,
    "sell": "USD",
    "sell_amount": 10_000,
    "buy": "EUR",
    "buy_amount": 9_166,
    "fee": 50,
    "rate": "0.9213",
    "spread": "0.005",
}
EXCHANGE = ("exchange", "100", "USD", "EUR")
PAY_IN_EUR = ("transfer", "100", "USD", "--to", "bob@example.com", "--receive", "EUR")


def fx_transfer(kind: str = "fx_transfer", direction: str = "out", memo: str | None = None) -> dict[str, Any]:
    moved = named(transfer(amount=10_000, kind=kind, direction=direction, memo=memo))
    if kind == "exchange":
        moved["recipient"] = {**moved["sender"], "wallet_id": "a11ce000-0000-4000-8000-0000000000e1"}
    moved["fx"] = dict(FX)
    return moved


def test_exchange_yes_quotes_the_amount_then_executes_the_quote_with_a_key(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/fx/exchange", Reply(201, fx_transfer("exchange", memo="trip")))

    result = gopherpay(*EXCHANGE, "--memo", "trip", "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/fx/quotes")[0].body == {
        "sell": "USD",
        "buy": "EUR",
        "sell_amount": 10_000,
    }
    [executed] = daemon.seen("POST", "/v1/fx/exchange")
    assert executed.body == {"quote_id": QUOTE_ID, "memo": "trip"}
    assert len(executed.headers["idempotency-key"]) == 36
    # Nobody is asked, so the quote is still said, with the moment its lock ends.
    assert result.stderr.splitlines() == [
        f"Quote {QUOTE_ID}: 100.00 USD for 91.66 EUR at 0.9213, locked until 2026-12-03 09:00:30 +00:00",
        f"Exchanged 100.00 USD for 91.66 EUR (transfer {TRANSFER_ID})",
    ]
    assert result.stdout.splitlines() == [
        f"Transfer\t{TRANSFER_ID}",
        "Kind\texchange",
        "Amount\t100.00 USD",
        "From\talice@example.com",
        "To\talice@example.com",
        "Exchange\t100.00 USD -> 91.66 EUR at 0.9213, fee 0.50 USD",
        "Memo\ttrip",
        "Date\t2026-11-26 16:34:27 +00:00",
    ]


def test_exchange_receive_json_quotes_the_buy_side_and_prints_the_daemons_transfer(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/fx/exchange", Reply(201, fx_transfer("exchange")))

    result = gopherpay("--json", "exchange", "91.66", "USD", "EUR", "--receive", "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/fx/quotes")[0].body == {"sell": "USD", "buy": "EUR", "buy_amount": 9_166}
    assert json.loads(result.stdout) == fx_transfer("exchange")


def test_on_a_terminal_exchange_shows_the_quote_and_executes_only_on_yes(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/fx/exchange", Reply(201, fx_transfer("exchange")))
    env = {**cli_env, **AS_ALICE}

    declined = run_in_terminal(*EXCHANGE, env=env, typed=b"n\n")
    assert declined.exit_code == 1
    assert daemon.seen("POST", "/v1/fx/exchange") == []
    accepted = run_in_terminal(*EXCHANGE, env=env, typed=b"y\n")

    question = (
        f"  Quote:         {QUOTE_ID}\n"
        "  You pay:       100.00 USD\n"
        "  Fee (in that): 0.50 USD\n"
        "  Received:      91.66 EUR\n"
        "  Rate:          1 USD = 0.9213 EUR, spread 0.5%\n"
        "  Expires:       2026-12-03 09:00:30 +00:00\n"
        "Exchange 100.00 USD for 91.66 EUR (locked for 30 seconds)? [y/N] "
    )
    assert declined.terminal == f"{question}n\nError: Cancelled: nothing moved\n"
    assert accepted.exit_code == 0, accepted.terminal
    assert accepted.terminal == f"{question}y\nExchanged 100.00 USD for 91.66 EUR (transfer {TRANSFER_ID})\n"
    assert len(daemon.seen("POST", "/v1/fx/exchange")) == 1


def test_without_a_terminal_exchange_refuses_unless_yes_and_asks_for_no_quote(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    piped = gopherpay(*EXCHANGE, stdin="y\n", env=AS_ALICE)
    no_input = gopherpay("--no-input", *EXCHANGE, env=AS_ALICE)

    assert (piped.exit_code, piped.stderr) == (
        2,
        "Error: Not asking to exchange money: stdin is not a terminal\n"
        "Pass --yes to go ahead without confirming.\n",
    )
    assert (no_input.exit_code, no_input.stderr) == (
        2,
        "Error: --yes is required to exchange money when --no-input is set\n",
    )
    assert daemon.requests == []


def test_a_quote_that_expired_while_the_user_decided_says_so_and_to_run_again(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    detail = f"quote {QUOTE_ID} expired at 2026-12-03T09:00:30+00:00; ask for a new one"
    daemon.on("POST", "/v1/fx/exchange", problem(409, "quote_expired", detail))

    run = run_in_terminal(*EXCHANGE, env={**cli_env, **AS_ALICE}, typed=b"y\n")

    assert run.exit_code == 4
    assert run.terminal.endswith(
        "[y/N] y\n"
        "Error: The quote expired while you were deciding (it was locked for 30 seconds); nothing moved\n"
        "Run the same command again for a new quote.\n"
    )


@pytest.mark.parametrize(
    ("code", "status", "detail", "expected"),
    [
        (
            "insufficient_funds",
            409,
            "wallet a11ce000 has 5.00 USD, the exchange needs 100.00 USD",
            "Error: Your USD wallet has 5.00 USD; the exchange needs 100.00 USD\n"
            "Check your balance: gopherpay balance USD\n",
        ),
        (
            "quote_used",
            409,
            f"quote {QUOTE_ID} was used by another request; ask for a new one",
            f"Error: Quote {QUOTE_ID} was used by another request; ask for a new one\n"
            "Run the same command again for a new quote.\n",
        ),
        (
            "idempotency_key_reused",
            409,
            "idempotency key k-1 was used for a different request",
            "Error: Idempotency key k-1 was used for a different request\n"
            "An earlier run used this key with a quote of its own, and may have moved money: see "
            "gopherpay history before running again without --idempotency-key.\n",
        ),
    ],
)
def test_an_exchange_refused_says_what_to_do(
    daemon: FakeDaemon,
    gopherpay: Callable[..., Run],
    code: str,
    status: int,
    detail: str,
    expected: str,
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/fx/exchange", problem(status, code, detail))

    result = gopherpay(*EXCHANGE, "--yes", "--idempotency-key", "k-1", env=AS_ALICE)

    said, refusal = result.stderr.split("\n", 1)
    assert said.startswith(f"Quote {QUOTE_ID}: 100.00 USD for 91.66 EUR")
    assert (result.exit_code, refusal) == (6 if code == "idempotency_key_reused" else 4, expected)


def test_transfer_receive_pays_the_quotes_sell_side_with_its_id(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    # The daemon quotes what 100 USD buys; the payment must carry exactly the quote's sell side.
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/transfers", Reply(201, fx_transfer()))

    result = gopherpay(*PAY_IN_EUR, "--memo", "rent", "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/fx/quotes")[0].body == {
        "sell": "USD",
        "buy": "EUR",
        "sell_amount": 10_000,
    }
    [paid] = daemon.seen("POST", "/v1/transfers")
    assert paid.body == {
        "amount": 10_000,
        "currency": "USD",
        "to_email": "bob@example.com",
        "memo": "rent",
        "quote_id": QUOTE_ID,
    }
    assert "idempotency-key" in paid.headers
    assert result.stderr == (
        f"Sent 100.00 USD to bob@example.com, who received 91.66 EUR (transfer {TRANSFER_ID})\n"
    )
    assert "Exchange\t100.00 USD -> 91.66 EUR at 0.9213, fee 0.50 USD" in result.stdout.splitlines()


def test_on_a_terminal_transfer_receive_shows_the_payee_with_the_quote(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/transfers", preview_or_move(fx_transfer()))

    run = run_in_terminal(*PAY_IN_EUR, env={**cli_env, **AS_ALICE}, typed=b"y\n")

    assert run.exit_code == 0, run.terminal
    assert run.terminal.startswith(
        "  From:          Alice Liddell <alice@example.com>\n"
        "  To:            Bob Builder <bob@example.com>\n"
        f"  Quote:         {QUOTE_ID}\n"
        "  You pay:       100.00 USD\n"
        "  Fee (in that): 0.50 USD\n"
        "  Received:      91.66 EUR\n"
        "  Rate:          1 USD = 0.9213 EUR, spread 0.5%\n"
        "  Expires:       2026-12-03 09:00:30 +00:00\n"
        "Send 100.00 USD to Bob Builder <bob@example.com>, who receives 91.66 EUR? [y/N] y\n"
    )
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run", "real"]
    dry_run, real = daemon.seen("POST", "/v1/transfers")
    assert dry_run.body == real.body and real.body["quote_id"] == QUOTE_ID


def test_transfer_receive_dry_run_checks_the_payment_on_its_quote_and_moves_nothing(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))
    daemon.on("POST", "/v1/transfers", preview_or_move(fx_transfer()))

    result = gopherpay(*PAY_IN_EUR, "--dry-run", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "Dry run: the daemon would send 100.00 USD to Bob Builder <bob@example.com>, who receives "
        "91.66 EUR. Nothing moved.\n"
    )
    assert result.stdout.splitlines()[:3] == [
        "From\tAlice Liddell <alice@example.com>",
        "To\tBob Builder <bob@example.com>",
        f"Quote\t{QUOTE_ID}",
    ]
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--receive", "usd"),
            "Error: USD cannot be exchanged for itself; choose two different currencies\n",
        ),
        (("--receive", "XYZ"), "Error: Unsupported currency 'XYZ'. Supported: "),
    ],
)
def test_transfer_receive_refuses_a_bad_currency_before_asking_the_daemon(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("transfer", "100", "USD", "--to", "bob@example.com", *args, "--yes", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert daemon.requests == []


def test_transfer_receive_does_not_go_with_from_file(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Any
) -> None:
    payments = tmp_path / "payments.csv"
    payments.write_text("to,amount,currency\nbob@example.com,1,USD\n")

    result = gopherpay("transfer", "--from-file", str(payments), "--receive", "EUR", env=AS_ALICE)

    assert (result.exit_code, result.stderr.splitlines()[0]) == (
        2,
        "Error: --receive does not go with --from-file",
    )
    assert daemon.requests == []


def test_an_fx_payment_reads_as_received_in_the_buy_currency_in_history_and_on_the_receipt(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    received = fx_transfer(direction="in")
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [received], "next_cursor": None}))
    daemon.on("GET", f"/v1/transfers/{TRANSFER_ID}", Reply(200, received))

    history = gopherpay("history", env=AS_ALICE)
    as_csv = gopherpay("history", "--csv", env=AS_ALICE)
    receipt = gopherpay("transfer", "show", TRANSFER_ID, env=AS_ALICE)

    assert history.exit_code == 0, history.stderr
    assert history.stdout.splitlines()[1].split("\t")[1:6] == [
        "fx_transfer",
        "in",
        "91.66 EUR",
        "bob@example.com (100.00 USD -> 91.66 EUR at 0.9213, fee 0.50 USD)",
        "",
    ]
    assert as_csv.stdout.splitlines()[1].split(",")[4:7] == ["9166", "EUR", "91.66 EUR"]
    assert receipt.stdout.splitlines()[4:8] == [
        "Amount\t100.00 USD",
        "Received\t91.66 EUR",
        "Fee\t0.50 USD",
        "Exchange\t100.00 USD -> 91.66 EUR at 0.9213, fee 0.50 USD",
    ]
