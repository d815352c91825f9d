"""Exchange rates and locked quotes (`gopherpay fx …`, `gopherpay admin rates …`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from gopherpay_cli import fx_views
from gopherpay_cli.errors import UsageError, hints
from gopherpay_cli.options import AmountArgument, amount_minor, currency_code
from gopherpay_cli.state import get_state
from gopherpay_cli.views import timestamp

app = typer.Typer()
fx_app = typer.Typer(help="Exchange rates and quotes locked for a short time.", no_args_is_help=True)
app.add_typer(fx_app, name="fx")
rates_app = typer.Typer(help="Set and list the exchange rates quotes use.", no_args_is_help=True)

SellArgument = Annotated[str, typer.Argument(metavar="SELL", help="The currency paid, like USD.")]
BuyArgument = Annotated[str, typer.Argument(metavar="BUY", help="The currency received, like EUR.")]
RATE_HINT = "See the rates: gopherpay fx rates"
_DURATION = re.compile(r"(\d{1,9})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_seconds(text: str, option: str) -> int:
    """`90s`, `30m`, `1h`, `2d` in seconds, or a usage error naming the option."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise UsageError(f"{option} takes a duration like 90s, 30m, 1h or 2d, got {text!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def fx_hints() -> Any:
    return hints(
        fx_rate_unavailable=RATE_HINT,
        fx_amount_too_small="Ask for a larger amount.",
    )


@fx_app.command("quote")
def quote(
    ctx: typer.Context,
    amount: AmountArgument,
    sell: SellArgument,
    buy: BuyArgument,
    receive: Annotated[
        bool,
        typer.Option(
            "--receive", help="AMOUNT is what is received, in BUY (default: what you pay, in SELL)."
        ),
    ] = False,
) -> None:
    """Ask for a quote: the rate locked for a short time, the fee, both amounts."""
    sell_code, buy_code = currency_code(sell), currency_code(buy)
    if sell_code == buy_code:
        raise UsageError(f"{sell_code} cannot be exchanged for itself; choose two different currencies")
    side = "buy_amount" if receive else "sell_amount"
    body = {
        "sell": sell_code,
        "buy": buy_code,
        side: amount_minor(amount, buy_code if receive else sell_code),
    }
    state = get_state(ctx)
    with fx_hints():
        answer = state.client().post("/v1/fx/quotes", body)
    fx_views.show_quote(state.renderer, answer)


@fx_app.command("rates")
def rates(ctx: typer.Context) -> None:
    """List the exchange rates that quote now (indicative)."""
    state = get_state(ctx)
    fx_views.show_rates(state.renderer, state.client().get("/v1/fx/rates"))


@rates_app.command("set")
def rates_set(
    ctx: typer.Context,
    sell: SellArgument,
    buy: BuyArgument,
    rate: Annotated[str, typer.Argument(metavar="RATE", help="BUY units one SELL unit buys, like 0.9213.")],
    spread: Annotated[
        str, typer.Option("--spread", metavar="PERCENT", help="The house's spread, like 0.5% (default 0).")
    ] = "0",
    valid: Annotated[
        str | None,
        typer.Option("--valid", metavar="DURATION", help="Quote with it only this long (90s, 30m, 1h, 2d)."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why; recorded in the audit log.")
    ] = None,
) -> None:
    """Set or replace the rate of one currency pair, one direction."""
    from gopherpayd.fx.rounding import DecimalTextError, parse_rate, parse_spread

    sell_code, buy_code = currency_code(sell), currency_code(buy)
    if sell_code == buy_code:
        raise UsageError(f"{sell_code} cannot be exchanged for itself; choose two different currencies")
    try:
        parse_rate(rate)
    except DecimalTextError as error:
        raise UsageError(f"RATE: {error}") from None
    try:
        parse_spread(spread)
    except DecimalTextError as error:
        raise UsageError(f"--spread: {error}") from None
    body: dict[str, Any] = {
        "sell": sell_code,
        "buy": buy_code,
        "rate": rate.strip(),
        "spread": spread.strip(),
    }
    if valid is not None:
        body["valid_seconds"] = duration_seconds(valid, "--valid")
    if reason is not None:
        body["reason"] = reason
    state = get_state(ctx)
    answer = state.client().post("/v1/admin/fx/rates", body)
    until = timestamp(answer.get("valid_until")) or "until replaced"
    state.renderer.info(
        f"Set {sell_code}->{buy_code}: 1 {sell_code} = {answer['rate']} {buy_code}, "
        f"spread {fx_views.spread_text(answer['spread'])}, valid {until}."
    )
    fx_views.show_rates(state.renderer, {"items": [answer]}, operator=True)


@rates_app.command("list")
def rates_list(ctx: typer.Context) -> None:
    """List every pair's rate, with whether it still quotes."""
    state = get_state(ctx)
    fx_views.show_rates(state.renderer, state.client().get("/v1/admin/fx/rates"), operator=True)


def indicative_total(
    wallets: list[dict[str, Any]], rates: list[dict[str, Any]], target: str
) -> dict[str, Any]:
    """Each wallet's balance at the current mid rate to `target` (rounded down, as the daemon
    rounds what a customer receives), and their sum; wallets without a rate are left out."""
    from decimal import Decimal

    from gopherpayd.fx.rounding import indicative_value
    from gopherpayd.wallets.currencies import CURRENCIES

    to_target = {rate["sell"]: rate["rate"] for rate in rates if rate["buy"] == target}
    lines, not_converted, total = [], [], 0
    for wallet in wallets:
        code, balance = wallet["currency"], wallet["balance"]
        rate = to_target.get(code)
        if code == target:
            value: int | None = balance
        elif rate is not None and code in CURRENCIES and target in CURRENCIES:
            value = indicative_value(
                balance, Decimal(rate), CURRENCIES[code].exponent, CURRENCIES[target].exponent
            )
        else:
            value = None
            not_converted.append(code)
        total += value or 0
        lines.append(
            {"currency": code, "balance": balance, "rate": rate if code != target else None, "value": value}
        )
    return {
        "currency": target,
        "indicative": True,
        "total": total,
        "wallets": lines,
        "not_converted": not_converted,
    }


def show_balance_in(ctx: typer.Context, target: str) -> None:
    """`gopherpay balance --in CURRENCY`."""
    state = get_state(ctx)
    client = state.client()
    wallets = [wallet for page in client.iter_pages("/v1/wallets", {}) for wallet in page["items"]]
    rates = client.get("/v1/fx/rates").get("items", [])
    fx_views.show_indicative_total(state.renderer, indicative_total(wallets, rates, target))
