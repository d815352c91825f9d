"""Wallets and balances."""

from __future__ import annotations

from typing import Annotated

import typer

from gopherpay_cli import views
from gopherpay_cli.errors import UsageError, hints
from gopherpay_cli.listing import PAGE_SIZE, AllOption, CursorOption, show_list
from gopherpay_cli.options import currency_code, limit_option
from gopherpay_cli.state import AppState, get_state

app = typer.Typer()
wallets_app = typer.Typer(help="Open, close and list your wallets (one per currency).", no_args_is_help=True)
app.add_typer(wallets_app, name="wallets")

CurrencyArgument = Annotated[
    str, typer.Argument(metavar="CURRENCY", help="ISO 4217 code, like USD (any case).")
]


@wallets_app.command("list")
def wallets_list(
    ctx: typer.Context,
    limit: Annotated[int, limit_option("At most this many wallets.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List your open wallets with their balances, A to Z by currency."""
    _show_wallets(get_state(ctx), limit=limit, every=every, cursor=cursor)


@wallets_app.command("open")
def wallets_open(ctx: typer.Context, currency: CurrencyArgument) -> None:
    """Open a wallet in a currency."""
    state = get_state(ctx)
    code = currency_code(currency)
    with hints(wallet_exists=f"You already have a {code} wallet: gopherpay balance {code}"):
        wallet = state.client().post("/v1/wallets", {"currency": code})
    state.renderer.info(f"Opened a {code} wallet (wallet {wallet['id']}).")
    views.show(state.renderer, wallet)


@wallets_app.command("close")
def wallets_close(ctx: typer.Context, currency: CurrencyArgument) -> None:
    """Close an empty wallet."""
    state = get_state(ctx)
    code = currency_code(currency)
    wallet = state.client().delete(f"/v1/wallets/{code}")
    state.renderer.info(f"Closed your {code} wallet.")
    views.show(state.renderer, wallet)


@app.command()
def balance(
    ctx: typer.Context,
    currency: Annotated[
        str | None,
        typer.Argument(metavar="CURRENCY", help="Show only this currency (default: all)."),
    ] = None,
    in_currency: Annotated[
        str | None,
        typer.Option(
            "--in",
            metavar="CURRENCY",
            help="Total all your wallets' available balances (balance - held) in this currency, "
            "at the current mid rates (indicative: only a quote locks a rate).",
        ),
    ] = None,
) -> None:
    """Show your balance in one currency, or in all of them."""
    if in_currency is not None:
        if currency is not None:
            raise UsageError("--in totals all your wallets; leave out CURRENCY")
        from gopherpay_cli.commands.fx import show_balance_in

        show_balance_in(ctx, currency_code(in_currency))
        return
    state = get_state(ctx)
    if currency is None:
        _show_wallets(state, limit=PAGE_SIZE, every=True, cursor=None)
        return
    code = currency_code(currency)
    views.show_wallet(state.renderer, state.client().get(f"/v1/wallets/{code}"))


@app.command()
def currencies(
    ctx: typer.Context,
    limit: Annotated[int, limit_option("At most this many currencies.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List the currencies the daemon supports, A to Z, with their minor units (no login needed)."""
    state = get_state(ctx)
    show_list(
        state,
        "/v1/currencies",
        {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_currencies(state.renderer, page),
        noun="currencies",
        authenticated=False,
    )


def _show_wallets(state: AppState, *, limit: int, every: bool, cursor: str | None) -> None:
    show_list(
        state,
        "/v1/wallets",
        {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_wallets(state.renderer, page),
        noun="wallets",
    )
