"""fx quote, fx rates, admin rates set/list and balance --in, against the fake daemon."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.commands.test_tokens_api_status import complete
from tests.cli.conftest import AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, Reply, problem

QUOTE_ID = "9a0f0e0d-0000-4000-8000-000000000001"


def rate(sell: str = "USD", buy: str = "EUR", value: str = "0.9213", spread: str = "0.005") -> dict[str, Any]:
    return {
        "sell": sell,
        "buy": buy,
        "rate": value,
        "spread": spread,
        "valid_until": None,
        "source": "operator",
        "set_at": "2026-12-03T09:00:00Z",
    }


def quote_answer() -> dict[str, Any]:
    return {
        "quote_id": QUOTE_ID,
        "sell": "USD",
        "buy": "EUR",
        "sell_amount": 10_000,
        "buy_amount": 9_166,
        "fee": 50,
        "rate": "0.9213",
        "spread": "0.005",
        "created_at": "2026-12-03T09:00:00Z",
        "expires_at": "2026-12-03T09:00:30Z",
    }


def wallet(currency: str, balance: int, held: int = 0) -> dict[str, Any]:
    return {
        "id": f"w-{currency.lower()}",
        "currency": currency,
        "balance": balance,
        "posted": balance,
        "held": held,
        "available": balance - held,
        "frozen": False,
        "created_at": "2026-11-26T16:34:27Z",
        "closed_at": None,
    }


def test_fx_quote_sends_the_amount_in_minor_units_of_the_sell_currency_and_shows_the_quote(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))

    result = gopherpay("fx", "quote", "100", "usd", "EUR", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/fx/quotes")[0].body == {
        "sell": "USD",
        "buy": "EUR",
        "sell_amount": 10_000,
    }
    assert result.stdout == (
        f"Quote\t{QUOTE_ID}\n"
        "You pay\t100.00 USD\n"
        "Fee (in that)\t0.50 USD\n"
        "Received\t91.66 EUR\n"
        "Rate\t1 USD = 0.9213 EUR, spread 0.5%\n"
        "Expires\t2026-12-03 09:00:30 +00:00\n"
    )


def test_fx_quote_with_receive_gives_the_amount_in_the_buy_currency(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/fx/quotes", Reply(201, quote_answer()))

    result = gopherpay("--json", "fx", "quote", "1,000", "USD", "JPY", "--receive", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/fx/quotes")[0].body == {"sell": "USD", "buy": "JPY", "buy_amount": 1_000}
    assert json.loads(result.stdout) == quote_answer()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("1.234", "USD", "EUR"), "Error: USD amounts have at most 2 decimals: 1.234\n"),
        (
            ("1.5", "USD", "JPY", "--receive"),
            "Error: JPY has no minor unit: 1.5 is not a whole number of JPY\n",
        ),
        (
            ("10", "USD", "usd"),
            "Error: USD cannot be exchanged for itself; choose two different currencies\n",
        ),
    ],
)
def test_fx_quote_refuses_bad_input_before_asking_the_daemon(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("fx", "quote", *args, env=AS_ALICE)

    assert (result.exit_code, result.stderr) == (2, message)
    assert daemon.requests == []


def test_fx_quote_without_a_rate_exits_4_and_points_at_the_rates(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    detail = "there is no GBP->JPY rate now; an operator sets one with gopherpay admin rates set GBP JPY RATE"
    daemon.on("POST", "/v1/fx/quotes", problem(409, "fx_rate_unavailable", detail))

    result = gopherpay("fx", "quote", "10", "GBP", "JPY", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr == f"Error: {detail[0].upper()}{detail[1:]}\nSee the rates: gopherpay fx rates\n"


def test_fx_rates_lists_the_indicative_rates(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/fx/rates", Reply(200, {"indicative": True, "items": [rate()]}))

    result = gopherpay("fx", "rates", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sell\tbuy\trate\tspread\tvalid until\tsource",
        "USD\tEUR\t0.9213\t0.5%\tuntil replaced\toperator",
    ]
    assert result.stderr == "Indicative rates: only a quote (gopherpay fx quote) locks one.\n"


def test_admin_rates_set_sends_the_rate_as_text_and_the_spread_and_validity(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    answer = {**rate(), "set_by": "u-1", "valid": True, "valid_until": "2026-12-03T10:00:00Z"}
    daemon.on("POST", "/v1/admin/fx/rates", Reply(200, answer))

    result = gopherpay(
        "admin", "rates", "set", "usd", "eur", "0.9213",
        "--spread", "0.5%", "--valid", "1h", "--reason", "daily",
        env=AS_ALICE,
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/admin/fx/rates")[0].body == {
        "sell": "USD",
        "buy": "EUR",
        "rate": "0.9213",
        "spread": "0.5%",
        "valid_seconds": 3600,
        "reason": "daily",
    }
    assert result.stderr == (
        "Set USD->EUR: 1 USD = 0.9213 EUR, spread 0.5%, valid 2026-12-03 10:00:00 +00:00.\n"
    )
    assert (
        result.stdout.splitlines()[1] == "USD\tEUR\t0.9213\t0.5%\t2026-12-03 10:00:00 +00:00\toperator\tyes"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("USD", "EUR", "0"), "Error: RATE: the rate must be greater than zero, got 0\n"),
        (
            ("USD", "EUR", "0.9", "--spread", "50%"),
            "Error: --spread: the spread must be at least 0 and below 50%, got 50%\n",
        ),
        (
            ("USD", "EUR", "0.9", "--valid", "soon"),
            "Error: --valid takes a duration like 90s, 30m, 1h or 2d, got 'soon'\n",
        ),
        (("USD", "XYZ", "0.9"), "Error: Unsupported currency 'XYZ'. Supported: "),
    ],
)
def test_admin_rates_set_refuses_bad_values_before_asking_the_daemon(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("admin", "rates", "set", *args, env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert daemon.requests == []


def test_admin_rates_list_shows_whether_each_rate_still_quotes(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    items = [{**rate(), "set_by": None, "valid": False, "source": "file"}]
    daemon.on("GET", "/v1/admin/fx/rates", Reply(200, {"items": items}))

    result = gopherpay("admin", "rates", "list", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["USD\tEUR\t0.9213\t0.5%\tuntil replaced\tfile\tno"]


def test_balance_in_totals_the_available_balances_at_the_mid_rates_and_lists_those_without_a_rate(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    # 10.00 of the USD are held for someone: not the customer's to exchange, so not counted.
    wallets = [
        wallet("USD", 12_345, held=1_000),
        wallet("EUR", 500),
        wallet("JPY", 1_000),
        wallet("KWD", 1_234),
    ]
    rates = [rate(), rate("KWD", "EUR", "2.98"), rate("EUR", "JPY", "160")]
    daemon.on("GET", "/v1/wallets", Reply(200, {"items": wallets}))
    daemon.on("GET", "/v1/fx/rates", Reply(200, {"indicative": True, "items": rates}))

    human = gopherpay("balance", "--in", "eur", env=AS_ALICE)
    as_json = gopherpay("--json", "balance", "--in", "EUR", env=AS_ALICE)

    assert human.exit_code == 0, human.stderr
    # 113.45 USD available * 0.9213 = 104.521485 -> 104.52; 1.234 KWD * 2.98 = 3.67732 -> 3.67.
    assert human.stdout.splitlines() == [
        "currency\tavailable\trate\tin EUR",
        "USD\t113.45 USD\t0.9213\t104.52 EUR",
        "EUR\t5.00 EUR\t\t5.00 EUR",
        "JPY\t1,000 JPY\t-\tnot converted",
        "KWD\t1.234 KWD\t2.98\t3.67 EUR",
        "Total available (indicative)\t113.19 EUR",
    ]
    assert human.stderr == (
        "Indicative: the available balances (balance - held) at the current mid rates to EUR, "
        "before any spread; only a quote locks a rate.\n"
        "Not converted (no rate to EUR): JPY; they are not in the total.\n"
    )
    body = json.loads(as_json.stdout)
    assert (body["currency"], body["indicative"], body["total"], body["not_converted"]) == (
        "EUR",
        True,
        11_319,
        ["JPY"],
    )
    assert body["wallets"][0] == {"currency": "USD", "available": 11_345, "rate": "0.9213", "value": 10_452}


def test_balance_in_with_a_currency_too_is_a_usage_error(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("balance", "USD", "--in", "EUR", env=AS_ALICE)

    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --in totals all your wallets; leave out CURRENCY\n",
    )
    assert daemon.requests == []


def test_bash_completion_offers_currency_codes_for_both_sides_of_a_quote(cli_env: dict[str, str]) -> None:
    def bash(words: str) -> list[str]:
        env = {
            "_GOPHERPAY_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        return complete(cli_env, env).split()

    assert bash("gopherpay fx quote 100 u") == ["USD"]
    assert bash("gopherpay fx quote 100 USD e") == ["EUR"]
    assert bash("gopherpay admin rates set USD j") == ["JOD", "JPY"]
    assert bash("gopherpay balance --in g") == ["GBP"]
