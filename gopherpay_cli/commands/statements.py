"""Monthly statements."""

from __future__ import annotations

from typing import Annotated

import typer

from gopherpay_cli.errors import UsageError
from gopherpay_cli.options import currency_code
from gopherpay_cli.state import AppState, get_state

app = typer.Typer()


@app.command()
def statement(
    ctx: typer.Context,
    month: Annotated[
        str, typer.Argument(metavar="MONTH", help="The calendar month, like 2026-11, in your time zone.")
    ],
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            metavar="CURRENCY",
            help="The wallet's currency. Default: your only wallet's, when you have one.",
        ),
    ] = None,
    as_csv: Annotated[
        bool,
        typer.Option(
            "--csv",
            help="CSV on stdout: an opening_balance row, one row per movement (amount_minor "
            "signed: negative is money out, as in the table), a closing_balance row.",
        ),
    ] = False,
) -> None:
    """Show a month's statement: opening balance, every movement, totals in and out, closing
    balance, in your local time (UTC with --utc)."""
    from gopherpay_cli.statement import month_bounds, show_statement

    state = get_state(ctx)
    if as_csv and state.json_output:
        raise UsageError("Choose one of --csv and --json")
    since, until, first_day = month_bounds(month)
    code = currency_code(currency) if currency is not None else _only_currency(state)
    sheet = state.client().get("/v1/statement", {"currency": code, "since": since, "until": until})
    show_statement(state.renderer, sheet, month=first_day, as_csv=as_csv)


def _only_currency(state: AppState) -> str:
    """The currency of the user's one open wallet, or a usage error saying to choose."""
    wallets = state.client().get("/v1/wallets").get("items", [])
    codes = sorted({str(wallet["currency"]) for wallet in wallets})
    if len(codes) == 1:
        return codes[0]
    if not codes:
        raise UsageError(
            "You have no open wallet; name the currency",
            hint="For example: gopherpay statement 2026-11 --currency USD",
        )
    raise UsageError(
        f"You have wallets in {', '.join(codes)}: choose one",
        hint=f"For example: gopherpay statement MONTH --currency {codes[0]}",
    )
