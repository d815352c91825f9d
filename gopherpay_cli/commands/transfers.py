"""Sending money and reading the history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from gopherpay_cli import views
from gopherpay_cli.errors import UsageError, hints
from gopherpay_cli.money import format_amount
from gopherpay_cli.options import (
    MEMO_MAX_LENGTH,
    AmountArgument,
    CurrencyArgument,
    IdempotencyKeyOption,
    amount_minor,
    checked_memo,
    currency_code,
    idempotency_key,
    limit_option,
    memo_option,
)
from gopherpay_cli.state import AppState, get_state, given_on_command_line

app = typer.Typer()


class Direction(StrEnum):
    incoming = "in"
    outgoing = "out"


def announce_replay(state: AppState, replayed: bool) -> None:
    if replayed:
        state.renderer.info(
            "The daemon had already done this request (same idempotency key); nothing was done twice."
        )


@app.command()
def transfer(
    ctx: typer.Context,
    amount: AmountArgument,
    currency: CurrencyArgument,
    to: Annotated[
        str,
        typer.Option("--to", metavar="EMAIL|WALLET_ID", help="The recipient's email address or wallet id."),
    ],
    memo: Annotated[
        str | None, memo_option(f"A note for both sides (at most {MEMO_MAX_LENGTH} chars).")
    ] = None,
    key: IdempotencyKeyOption = None,
) -> None:
    """Send money to another GopherPay user."""
    state = get_state(ctx)
    code = currency_code(currency)
    recipient = _recipient(to)
    body: dict[str, Any] = {"amount": amount_minor(amount, code), "currency": code, **recipient}
    if memo is not None:
        body["memo"] = checked_memo(memo)
    # The daemon's message already says there is no account for an email address.
    not_found = None if "to_email" in recipient else "Check the wallet id with the recipient."
    with hints(
        recipient_not_found=not_found,
        insufficient_funds=f"Check your balance: gopherpay balance {code}",
    ):
        reply = state.client().move_money("/v1/transfers", body, idempotency_key(key))
    sent = reply.data
    sent_to = views.party_label(sent.get("recipient")) or to
    state.renderer.info(
        f"Sent {format_amount(sent['amount'], sent['currency'])} to {sent_to} (transfer {sent['id']})"
    )
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, sent)


@app.command()
def history(
    ctx: typer.Context,
    currency: Annotated[
        str | None, typer.Option("--currency", metavar="CURRENCY", help="Only this currency.")
    ] = None,
    direction: Annotated[
        Direction | None,
        typer.Option("--direction", help="Only money coming in, or only money going out."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="From this date or RFC 3339 time on."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="Up to this date or RFC 3339 time."),
    ] = None,
    limit: Annotated[int, limit_option("At most this many transfers.")] = 50,
    as_csv: Annotated[
        bool,
        typer.Option(
            "--csv",
            help="CSV on stdout (RFC 4180, CRLF line ends), with the signed amount in minor "
            "units (a plain number) and formatted. A text cell starting with = + - @, a tab or "
            "a CR gets a leading ' so no spreadsheet runs it as a formula (so a formatted "
            "outgoing amount reads '-12.34 USD). On a terminal, control and bidi characters "
            "are replaced, as in the table.",
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Print new transfers as they happen, until Ctrl-C; nothing from before "
            "(like tail -f without a backlog). With --json, one Transfer per line (NDJSON). "
            "Notifications are shown on stderr, except with --json. Goes with --currency and "
            "--direction; reconnects by itself without missing or repeating a transfer.",
        ),
    ] = False,
) -> None:
    """Show your transfers, newest first, or follow new ones as they happen."""
    state = get_state(ctx)
    if as_csv and state.json_output:
        raise UsageError("Choose one of --csv and --json")
    params: dict[str, str | int] = {}
    if currency is not None:
        params["currency"] = currency_code(currency)
    if direction is not None:
        params["direction"] = direction.value
    if follow:
        _follow(ctx, state, params)
        return
    if since is not None:
        params["since"] = _date_or_time(since, "--since")
    if until is not None:
        params["until"] = _date_or_time(until, "--until")
    page = state.client().get_pages("/v1/transfers", params, limit=limit)
    views.show_history(state.renderer, page, as_csv=as_csv)


def _follow(ctx: typer.Context, state: AppState, params: dict[str, str | int]) -> None:
    from gopherpay_cli.follow import Follower, TransferFilter

    for option in ("since", "until", "limit", "as_csv"):
        if given_on_command_line(ctx, option):
            flag = "--csv" if option == "as_csv" else f"--{option}"
            raise UsageError(
                f"{flag} does not go with --follow",
                hint="--follow prints only new transfers; run history without it for earlier ones.",
            )
    transfer_filter = TransferFilter(
        currency=str(params["currency"]) if "currency" in params else None,
        direction=str(params["direction"]) if "direction" in params else None,
    )
    Follower(state.client(), state.renderer, transfer_filter).run()


def _recipient(to: str) -> dict[str, str]:
    """`to_wallet_id` when `to` is a wallet id (a UUID), else `to_email`."""
    try:
        return {"to_wallet_id": str(uuid.UUID(to))}
    except ValueError:
        pass
    if "@" not in to:
        raise UsageError(f"--to must be an email address or a wallet id, got {to!r}")
    return {"to_email": to.strip()}


def _date_or_time(text: str, flag: str) -> str:
    """Check a --since/--until value locally, so a typo fails before any request."""
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(text)
        except ValueError:
            continue
        return text
    raise UsageError(f"{flag} takes a date like 2026-11-26 or an RFC 3339 time, got {text!r}")
