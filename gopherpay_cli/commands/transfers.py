"""Sending money and reading the history."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gopherpay_cli import views
from gopherpay_cli.bulk import MAX_ATOMIC_ROWS
from gopherpay_cli.confirm import DryRunOption, YesOption, amount_text, confirm_movement
from gopherpay_cli.errors import ApiError, ExitCode, GopherPayError, UsageError, hints
from gopherpay_cli.listing import AllOption, CursorOption, show_list
from gopherpay_cli.money import format_amount
from gopherpay_cli.options import (
    MEMO_MAX_LENGTH,
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


FROM_FILE_HELP = (
    "Pay every row of this CSV file (UTF-8, a header row naming the columns to, amount, "
    "currency, and optionally memo and key; to is an email address or a wallet id, amount "
    "is written as for AMOUNT). The whole file is checked first: a bad row is an error "
    "naming it, and nothing is sent. Rows go 200 to a request; each gets one result line "
    "on stdout: CSV row,key,status,transfer_id,code (status moved, replayed or refused), or "
    "with --json the daemon's result for the row, one JSON object per line. A row without "
    "a key gets one derived from it: --key-prefix, then the hex SHA-256 of the file's name "
    "(without its folder), the row number (1 for the first row after the header, blank lines "
    "not counted) and the row's to, amount in minor units, currency and memo. So running the "
    "same file again, after an interruption, replays the rows already done instead of "
    "paying them twice. Exit status 0 when every row moved (or had moved before); when some "
    "row was refused, the code a single transfer refused as the first such row would get "
    "(e.g. 4 insufficient funds, 5 no such recipient, 6 key reused)."
)


@app.command()
def transfer(
    ctx: typer.Context,
    amount: Annotated[
        str | None, typer.Argument(metavar="AMOUNT", help="Like 12.34 or 1,000.", show_default=False)
    ] = None,
    currency: Annotated[
        str | None, typer.Argument(metavar="CURRENCY", help="ISO 4217 code, like USD.", show_default=False)
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="EMAIL|WALLET_ID", help="The recipient's email address or wallet id."),
    ] = None,
    memo: Annotated[
        str | None, memo_option(f"A note for both sides (at most {MEMO_MAX_LENGTH} chars).")
    ] = None,
    key: IdempotencyKeyOption = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            metavar="CSV",
            exists=True,
            dir_okay=False,
            readable=True,
            help=FROM_FILE_HELP,
        ),
    ] = None,
    atomic: Annotated[
        bool,
        typer.Option(
            "--atomic",
            help="With --from-file: all rows move or none does, in one request (at most "
            f"{MAX_ATOMIC_ROWS} rows). When one row is refused, it gets its code and every other "
            "row linked_failed, and nothing is kept, so the same file can be sent again once fixed.",
        ),
    ] = False,
    key_prefix: Annotated[
        str,
        typer.Option(
            "--key-prefix",
            metavar="TEXT",
            help="With --from-file: starts every derived key. Give a new one to pay the same "
            "file again on purpose (e.g. --key-prefix 2026-12-); keep it to finish an interrupted run.",
        ),
    ] = "",
    receive: Annotated[
        str | None,
        typer.Option(
            "--receive",
            metavar="CURRENCY",
            help="The recipient receives this currency: a quote locks the rate for AMOUNT "
            "CURRENCY (shown with the payee before you confirm), and the payment executes it "
            "once; they get its other side, the spread is its fee.",
        ),
    ] = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Send money to another GopherPay user, or pay every row of a CSV file (--from-file).

    On a terminal it first shows the payee, the amount and the fee and asks; `gopherpay
    transfer show ID` prints the receipt of an earlier transfer. With --receive EUR the
    recipient is paid in EUR at a locked rate.
    """
    state = get_state(ctx)
    if amount == "show" and to is None and from_file is None:
        _show_receipt(state, currency)
        return
    if from_file is not None:
        given = [
            flag
            for flag, value in (("AMOUNT", amount), ("--to", to), ("--memo", memo), ("--receive", receive))
            if value is not None
        ]
        if dry_run:
            given.append("--dry-run")
        if key is not None:
            given.append("--idempotency-key")
        if given:
            raise UsageError(
                f"{given[0]} does not go with --from-file",
                hint="The file gives each row's recipient, amount, currency, memo and key.",
            )
        _pay_file(state, from_file, atomic=atomic, key_prefix=key_prefix)
        return
    for flag, used in (("--atomic", atomic), ("--key-prefix", bool(key_prefix))):
        if used:
            raise UsageError(f"{flag} goes with --from-file")
    if amount is None or currency is None or to is None:
        raise UsageError(
            "Give AMOUNT CURRENCY --to EMAIL|WALLET_ID, or --from-file CSV",
            hint="For example: gopherpay transfer 12.34 USD --to bob@example.com",
        )
    code = currency_code(currency)
    recipient = _recipient(to)
    body: dict[str, Any] = {"amount": amount_minor(amount, code), "currency": code, **recipient}
    if memo is not None:
        body["memo"] = checked_memo(memo)
    # The daemon's message already says there is no account for an email address.
    not_found = None if "to_email" in recipient else "Check the wallet id with the recipient."
    key_for_send = idempotency_key(key)
    if receive is not None:
        _send_on_quote(state, body, receive, key_for_send, yes=yes, dry_run=dry_run, not_found=not_found)
        return
    with (
        in_words(f"your {code} wallet"),
        hints(
            recipient_not_found=not_found,
            insufficient_funds=f"Check your balance: gopherpay balance {code}",
        ),
    ):
        if not confirm_movement(
            state,
            "/v1/transfers",
            body,
            yes=yes,
            dry_run=dry_run,
            action="send money",
            phrase=lambda t: f"send {amount_text(t)} to {views.person(t.get('recipient'))}",
        ):
            return
        reply = state.client().move_money("/v1/transfers", body, key_for_send)
    sent = reply.data
    sent_to = views.party_label(sent.get("recipient")) or to
    state.renderer.info(
        f"Sent {format_amount(sent['amount'], sent['currency'])} to {sent_to} (transfer {sent['id']})"
    )
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, sent)


def _send_on_quote(
    state: AppState,
    body: dict[str, Any],
    receive: str,
    key: str,
    *,
    yes: bool,
    dry_run: bool,
    not_found: str | None,
) -> None:
    """`transfer AMOUNT CURRENCY --to … --receive BUY`: a quote CURRENCY -> BUY for AMOUNT,
    shown with the payee and confirmed as any transfer is, then paid with its quote_id."""
    from gopherpay_cli import fx_views
    from gopherpay_cli.commands.fx import currency_pair, quote_refusals, request_quote
    from gopherpay_cli.confirm import must_ask

    sell, buy = currency_pair(body["currency"], receive)
    # Before the quote, as before any request: off a terminal without --yes nothing is sent.
    must_ask(state, yes=yes or dry_run, action="send money")
    offer = request_quote(state, sell, buy, body["amount"], receive=False)
    body = {**body, "amount": offer["sell_amount"], "currency": offer["sell"], "quote_id": offer["quote_id"]}
    received = format_amount(offer["buy_amount"], offer["buy"])

    def phrase(transfer: dict[str, Any]) -> str:
        payee = views.person(transfer.get("recipient"))
        return f"send {amount_text(transfer)} to {payee}, who receives {received}"

    def details(transfer: dict[str, Any], _preview: dict[str, Any]) -> list[tuple[str, str]]:
        memo = [("Memo", str(transfer["memo"]))] if transfer.get("memo") else []
        return [
            ("From", views.person(transfer.get("sender"))),
            ("To", views.person(transfer.get("recipient"))),
            *fx_views.quote_details(offer),
            *memo,
        ]

    with (
        quote_refusals(offer, asked=not (yes or dry_run)),
        in_words(f"your {sell} wallet"),
        hints(
            recipient_not_found=not_found,
            insufficient_funds=f"Check your balance: gopherpay balance {sell}",
        ),
    ):
        if not confirm_movement(
            state,
            "/v1/transfers",
            body,
            yes=yes,
            dry_run=dry_run,
            action="send money",
            phrase=phrase,
            details=details,
        ):
            return
        reply = state.client().move_money("/v1/transfers", body, key)
    sent = reply.data
    fx = sent.get("fx")
    got = format_amount(fx["buy_amount"], fx["buy"]) if fx else received
    state.renderer.info(
        f"Sent {format_amount(sent['amount'], sent['currency'])} to "
        f"{views.party_label(sent.get('recipient'))}, who received {got} (transfer {sent['id']})"
    )
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, sent)


@contextmanager
def in_words(wallet_name: str, movement: str = "transfer") -> Iterator[None]:
    """Say `insufficient_funds` and `wallet_frozen` naming the wallet as the user knows it
    (`your USD wallet`), not by its id: `Your USD wallet has 5.00 USD; the transfer needs
    12.34 USD` (`movement` names what needs it)."""
    try:
        yield
    except ApiError as error:
        funds = FUNDS_DETAIL.fullmatch(error.message)
        frozen = FROZEN_DETAIL.fullmatch(error.message)
        if error.code == "insufficient_funds" and funds:
            error.message = f"{sentence(wallet_name)} has {funds[1]}; the {movement} needs {funds[2]}"
        elif error.code == "wallet_frozen" and frozen:
            whose = sentence(wallet_name) if frozen[1] == "sending" else "The receiving wallet"
            error.message = f"{whose} is frozen"
        raise


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


FUNDS_DETAIL = re.compile(r"wallet \S+ has (.+), (?:the )?(?:transfer|exchange) needs (.+)")
"""The daemon's insufficient_funds detail (it names the wallet by id): `transfer needs` for a
transfer, `the exchange needs` for an FX movement."""
FROZEN_DETAIL = re.compile(r"(sending|receiving) wallet \S+ is frozen")
"""The daemon's wallet_frozen detail for a movement (it names the wallet by id)."""


SHORT_ID_SEARCH = 1000
"""How many of your latest transfers a short id (from the history table) is looked up in."""


def _show_receipt(state: AppState, transfer_id: str | None) -> None:
    """`transfer show ID`: one transfer of yours, as a receipt; ID may be the short id the
    history table shows (the start of the full one)."""
    from urllib.parse import quote

    if transfer_id is None:
        raise UsageError("Give the id of the transfer to show", hint="See your transfers: gopherpay history")
    wanted = transfer_id.strip().lower()
    try:
        full_id = str(uuid.UUID(wanted))
    except ValueError:
        full_id = _full_id(state, wanted)
    transfer = state.client().get(f"/v1/transfers/{quote(full_id, safe='')}")
    views.show_receipt(state.renderer, transfer)


def _full_id(state: AppState, prefix: str) -> str:
    """The id of your one recent transfer whose id starts with `prefix`."""
    if len(prefix) < 4 or any(char not in "0123456789abcdef-" for char in prefix):
        raise UsageError(
            f"Not a transfer id: {prefix!r}",
            hint="Give the id from gopherpay history (its first 8 characters are enough).",
        )
    page = state.client().get_pages("/v1/transfers", {}, limit=SHORT_ID_SEARCH)
    matches = sorted({str(t["id"]) for t in page.get("items", []) if str(t["id"]).startswith(prefix)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise GopherPayError(
            f"None of your last {SHORT_ID_SEARCH} transfers has an id starting with {prefix}",
            ExitCode.NOT_FOUND,
            hint="See your transfers: gopherpay history --wide",
        )
    raise UsageError(
        f"{len(matches)} of your transfers have an id starting with {prefix}: give more of it",
        hint="See the full ids: gopherpay history --wide",
    )


def _pay_file(state: AppState, path: Path, *, atomic: bool, key_prefix: str) -> None:
    """Check the whole file, send it, print a line per row; exit non-zero unless all moved."""
    from gopherpay_cli import bulk
    from gopherpay_cli.client import shell_quote

    payments = bulk.read_payments(path, bulk.check_key_prefix(key_prefix))
    bulk.chunks(payments, atomic)  # an atomic file too large for one request fails before sending
    same_prefix = f" --key-prefix {shell_quote(key_prefix)}" if key_prefix else ""
    rerun = (
        f"Run the same command again{' (with' + same_prefix + ')' if same_prefix else ''} to finish: "
        "rows already done are replayed, never paid twice."
    )
    lines = bulk.ResultLines(state.renderer)
    with bulk.progress_bar(len(payments), bulk.progress_wanted(state.renderer, sys.stderr)) as advance:
        results = bulk.send(
            state.client(), payments, atomic=atomic, lines=lines, advance=advance, rerun_hint=rerun
        )
    failure = bulk.outcome_error(results, atomic)
    if failure is not None:
        raise failure
    replayed = sum(1 for result in results if result.status_word == bulk.REPLAYED)
    note = f" ({replayed} of them had been paid before, under the same keys)" if replayed else ""
    state.renderer.info(f"Paid all {len(results)} rows of {path.name}{note}")


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
        typer.Option(
            "--since",
            metavar="DATE",
            help="From this day (YYYY-MM-DD, in your time zone; UTC with --utc) or RFC 3339 time on.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATE",
            help="Up to the end of this day (in your time zone; UTC with --utc), or up to this "
            "RFC 3339 time.",
        ),
    ] = None,
    limit: Annotated[int, limit_option("At most this many transfers.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
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
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Every column (kind, direction), times to the second and full ids, however "
            "wide the terminal. Output to a pipe or a file always has them, tab-separated.",
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
        params["until"] = _date_or_time(until, "--until", end_of_day=True)
    show_list(
        state,
        "/v1/transfers",
        params,
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_history(state.renderer, page, as_csv=as_csv, wide=wide),
        noun="transfers",
        csv_rows=(views.HISTORY_CSV_HEADER, views.history_csv_row) if as_csv else None,
    )


def _follow(ctx: typer.Context, state: AppState, params: dict[str, str | int]) -> None:
    from gopherpay_cli.follow import Follower, TransferFilter

    flags = {"since": "--since", "until": "--until", "limit": "--limit", "as_csv": "--csv"}
    for option, flag in {**flags, "every": "--all", "cursor": "--cursor"}.items():
        if given_on_command_line(ctx, option):
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


def _date_or_time(text: str, flag: str, *, end_of_day: bool = False) -> str:
    """A --since/--until value as the RFC 3339 time to send, checked before any request.

    A date is a local day (UTC with --utc): --since from its first moment, --until up to
    its end (the daemon's `until` excludes the moment given: the next day's midnight).
    """
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        if len(text) == len("YYYY-MM-DD"):
            start = views.day_start(day + timedelta(days=1) if end_of_day else day)
            return start.isoformat()
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} takes a date like 2026-11-26 or an RFC 3339 time, got {text!r}") from None
    return text
