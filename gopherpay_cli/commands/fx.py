"""Exchange rates and locked quotes (`gopherpay fx …`, `gopherpay admin rates …`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from gopherpay_cli import fx_views
from gopherpay_cli.errors import ApiError, UsageError, hints
from gopherpay_cli.options import (
    MEMO_MAX_LENGTH,
    AmountArgument,
    amount_minor,
    checked_memo,
    currency_code,
    idempotency_key,
    memo_option,
)
from gopherpay_cli.state import AppState, get_state
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


ReceiveOption = Annotated[
    bool,
    typer.Option("--receive", help="AMOUNT is what is received, in BUY (default: what you pay, in SELL)."),
]
RUN_AGAIN = "Run the same command again for a new quote."
EARLIER_RUN = (
    "An earlier run used this key with a quote of its own, and may have moved money: "
    "see gopherpay history before running again without --idempotency-key."
)


def fx_hints() -> Any:
    return hints(
        fx_rate_unavailable=RATE_HINT,
        fx_amount_too_small="Ask for a larger amount.",
    )


def currency_pair(sell: str, buy: str) -> tuple[str, str]:
    """Both codes, checked: supported, and not the same currency twice."""
    sell_code, buy_code = currency_code(sell), currency_code(buy)
    if sell_code == buy_code:
        raise UsageError(f"{sell_code} cannot be exchanged for itself; choose two different currencies")
    return sell_code, buy_code


def request_quote(state: AppState, sell: str, buy: str, amount: int, *, receive: bool) -> dict[str, Any]:
    """A new quote from the daemon: `amount` minor units of `buy` to receive when `receive`,
    else of `sell` to pay."""
    body = {"sell": sell, "buy": buy, ("buy_amount" if receive else "sell_amount"): amount}
    with fx_hints():
        answer: dict[str, Any] = state.client().post("/v1/fx/quotes", body)
    return answer


@contextmanager
def quote_refusals(quote: dict[str, Any], *, asked: bool) -> Iterator[None]:
    """Executing `quote`: say so when it expired while the user was reading the question
    (`asked`), and what to do when it can no longer be used."""
    try:
        yield
    except ApiError as error:
        if error.code == "quote_expired":
            when = "while you were deciding" if asked else "before it could be used"
            error.message = (
                f"The quote expired {when} (it was locked for {fx_views.locked_for(quote)}); nothing moved"
            )
            error.hint = RUN_AGAIN
        elif error.code == "quote_used":
            error.hint = RUN_AGAIN
        elif error.code == "idempotency_key_reused":
            error.hint = EARLIER_RUN
        raise


@fx_app.command("quote")
def quote(
    ctx: typer.Context,
    amount: AmountArgument,
    sell: SellArgument,
    buy: BuyArgument,
    receive: ReceiveOption = False,
) -> None:
    """Ask for a quote: the rate locked for a short time, the fee, both amounts."""
    sell_code, buy_code = currency_pair(sell, buy)
    minor = amount_minor(amount, buy_code if receive else sell_code)
    state = get_state(ctx)
    fx_views.show_quote(state.renderer, request_quote(state, sell_code, buy_code, minor, receive=receive))


@app.command()
def exchange(
    ctx: typer.Context,
    amount: AmountArgument,
    sell: SellArgument,
    buy: BuyArgument,
    receive: ReceiveOption = False,
    memo: Annotated[
        str | None, memo_option(f"A note for your history (at most {MEMO_MAX_LENGTH} chars).")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="The key the exchange is sent with (default: a new random one); the CLI's own "
            "retries reuse it. Each run asks for a new quote, so running again with the same key "
            "is refused (exit 6) instead of exchanging twice.",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Exchange without asking first. Needed when stdin is not a terminal or with --no-input.",
        ),
    ] = False,
) -> None:
    """Exchange money between your own wallets at a locked rate: SELL leaves your SELL wallet,
    BUY arrives in your BUY wallet (opened for you if you have none).

    It asks for a quote first and shows it (both amounts, the rate and spread, the fee, when
    it expires); on a terminal it asks before executing it. The quote is locked for a short
    time: if it expires before you answer, nothing moves; run the command again.
    """
    from gopherpay_cli import views
    from gopherpay_cli.commands.transfers import announce_replay, in_words
    from gopherpay_cli.confirm import ask, must_ask
    from gopherpay_cli.money import format_amount

    state = get_state(ctx)
    sell_code, buy_code = currency_pair(sell, buy)
    minor = amount_minor(amount, buy_code if receive else sell_code)
    extra = {} if memo is None else {"memo": checked_memo(memo)}
    key_for_send = idempotency_key(key)
    asking = must_ask(state, yes=yes, action="exchange money", offers_dry_run=False)
    offer = request_quote(state, sell_code, buy_code, minor, receive=receive)
    paid = format_amount(offer["sell_amount"], offer["sell"])
    received = format_amount(offer["buy_amount"], offer["buy"])
    if asking:
        ask(
            f"Exchange {paid} for {received} (locked for {fx_views.locked_for(offer)})?",
            fx_views.quote_details(offer) + ([("Memo", memo)] if memo else []),
            cancelled="nothing moved",
        )
    else:  # nobody is asked: still say what is being executed, and until when it holds
        state.renderer.info(
            f"Quote {offer['quote_id']}: {paid} for {received} at {offer['rate']}, "
            f"locked until {timestamp(offer['expires_at'])}"
        )
    with (
        quote_refusals(offer, asked=asking),
        in_words(f"your {offer['sell']} wallet", movement="exchange"),
        hints(insufficient_funds=f"Check your balance: gopherpay balance {offer['sell']}"),
    ):
        reply = state.client().move_money(
            "/v1/fx/exchange", {"quote_id": offer["quote_id"], **extra}, key_for_send
        )
    done = reply.data
    state.renderer.info(f"Exchanged {paid} for {received} (transfer {done['id']})")
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, done)


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
    """Each wallet's available balance (posted - held: what could be exchanged now) at the
    current mid rate to `target` (rounded down, as the daemon rounds what a customer
    receives), and their sum; wallets without a rate are left out."""
    from decimal import Decimal

    from gopherpayd.fx.rounding import indicative_value
    from gopherpayd.wallets.currencies import CURRENCIES

    to_target = {rate["sell"]: rate["rate"] for rate in rates if rate["buy"] == target}
    lines, not_converted, total = [], [], 0
    for wallet in wallets:
        code, available = wallet["currency"], int(wallet["available"])
        rate = to_target.get(code)
        if code == target:
            value: int | None = available
        elif rate is not None and code in CURRENCIES and target in CURRENCIES:
            value = indicative_value(
                available, Decimal(rate), CURRENCIES[code].exponent, CURRENCIES[target].exponent
            )
        else:
            value = None
            not_converted.append(code)
        total += value or 0
        lines.append(
            {
                "currency": code,
                "available": available,
                "rate": rate if code != target else None,
                "value": value,
            }
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
