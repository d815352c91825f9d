"""Holds: reserve money for someone now, capture it (in parts) or release it later."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote

import typer

from gopherpay_cli import views
from gopherpay_cli.confirm import YesOption, ask, must_ask
from gopherpay_cli.errors import UsageError, hints
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
from gopherpay_cli.render import Renderer
from gopherpay_cli.state import AppState, get_state

app = typer.Typer()
holds_app = typer.Typer(
    help="Your holds, paid or received: list them (the default), capture, void, decline, extend.",
    invoke_without_command=True,
    subcommand_metavar="[COMMAND [ARGS]...]",
)
app.add_typer(holds_app, name="holds")

HOLD_COLUMNS = ("created", "status", "role", "amount", "remaining", "counterparty", "expires", "id")
DURATION = re.compile(r"(\d+)\s*([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
NOT_FOUND_HINT = "See your holds: gopherpay holds"
ExpiresOption = Annotated[
    str,
    typer.Option(
        "--expires",
        metavar="DURATION",
        help="How long from now, like 2d, 12h, 30m or 1w (at most 90 days).",
        show_default=False,
    ),
]
HoldIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The hold's id (see: gopherpay holds).")]


def seconds_of(text: str) -> int:
    """Seconds in a duration like `2d`, `1h30m` or `45s`; a usage error for anything else."""
    compact = text.strip().lower()
    parts = DURATION.findall(compact)
    if not parts or DURATION.sub("", compact).strip():
        raise UsageError(
            f"--expires must be a duration like 2d, 12h, 30m or 1w, got {text!r}",
            hint="For example: gopherpay hold 50 USD --to bob@example.com --expires 2d",
        )
    seconds = sum(int(number) * UNIT_SECONDS[unit] for number, unit in parts)
    if seconds < 1:
        raise UsageError("--expires must be at least one second")
    return seconds


def _hold_path(hold_id: str, action: str = "") -> str:
    try:
        canonical = str(uuid.UUID(hold_id.strip()))
    except ValueError:
        raise UsageError(f"Not a hold id: {hold_id!r}", hint=NOT_FOUND_HINT) from None
    return f"/v1/holds/{quote(canonical, safe='')}" + (f"/{action}" if action else "")


def hold_details(hold: dict[str, Any]) -> list[tuple[str, str]]:
    currency = hold["currency"]
    pairs = [
        ("Hold", str(hold["id"])),
        ("Status", str(hold["status"])),
        ("From", views.person(hold.get("payer"))),
        ("To", views.person(hold.get("payee"))),
        ("Amount", format_amount(hold["amount"], currency)),
        ("Captured", format_amount(hold["captured"], currency)),
        ("Released", format_amount(hold["released"], currency)),
        ("Remaining", format_amount(hold["remaining"], currency)),
        ("Expires", views.timestamp(hold.get("expires_at"))),
        ("Memo", str(hold.get("memo") or "")),
    ]
    return [(name, value) for name, value in pairs if value]


@views.view
def show_hold(renderer: Renderer, hold: dict[str, Any]) -> None:
    renderer.details(hold_details(hold))


@views.view
def show_holds(renderer: Renderer, page: dict[str, Any]) -> None:
    items = page.get("items", [])
    if not items:
        renderer.info("No holds. Place one with: gopherpay hold 50 USD --to bob@example.com --expires 2d")
        return
    rows = []
    for hold in items:
        other = hold.get("payee") if hold.get("role") == "payer" else hold.get("payer")
        rows.append(
            (
                views.timestamp(hold.get("created_at"), seconds=False),
                str(hold["status"]),
                str(hold.get("role") or ""),
                format_amount(hold["amount"], hold["currency"]),
                format_amount(hold["remaining"], hold["currency"]),
                views.party_label(other),
                views.timestamp(hold.get("expires_at"), seconds=False),
                str(hold["id"]),
            )
        )
    renderer.table(HOLD_COLUMNS, rows, right_aligned=("amount", "remaining"))


def _confirm(
    state: AppState, *, yes: bool, action: str, question: str, details: list[tuple[str, str]]
) -> None:
    if must_ask(state, yes=yes, action=action):
        ask(question, details, cancelled="nothing was changed")


def _done(state: AppState, message: str, replayed: bool, hold: dict[str, Any]) -> None:
    state.renderer.info(message)
    if replayed:
        state.renderer.info(
            "The daemon had already done this request (same idempotency key); nothing was done twice."
        )
    show_hold(state.renderer, hold)


@app.command()
def hold(
    ctx: typer.Context,
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Like 50 or 12.34.", show_default=False)],
    currency: Annotated[str, typer.Argument(metavar="CURRENCY", help="ISO 4217 code, like USD.")],
    to: Annotated[str, typer.Option("--to", metavar="EMAIL", help="Who the money is held for.")],
    expires: ExpiresOption,
    memo: Annotated[
        str | None, memo_option(f"A note for both sides (at most {MEMO_MAX_LENGTH} chars).")
    ] = None,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
) -> None:
    """Hold money for someone: it leaves your available balance now, and is theirs only when
    you capture it (`holds capture`); void it, or let it expire, and it is yours again."""
    state = get_state(ctx)
    code = currency_code(currency)
    if "@" not in to:
        raise UsageError(f"--to must be an email address, got {to!r}")
    body: dict[str, Any] = {
        "to": to,
        "amount": amount_minor(amount, code),
        "currency": code,
        "expires_in": seconds_of(expires),
    }
    if memo is not None:
        body["memo"] = checked_memo(memo)
    key_for_send = idempotency_key(key)
    held = format_amount(body["amount"], code)
    _confirm(
        state,
        yes=yes,
        action="hold money",
        question=f"Hold {held} for {to} for {expires}?",
        details=[("To", to), ("Amount", held), ("Expires in", expires), ("Memo", memo or "")],
    )
    with hints(insufficient_funds=f"Check your available balance: gopherpay balance {code}"):
        reply = state.client().move_money("/v1/holds", body, key_for_send)
    placed = reply.data
    _done(state, f"Held {held} for {to} (hold {placed['id']})", reply.replayed, placed)


@holds_app.callback()
def holds(
    ctx: typer.Context,
    only_open: Annotated[bool, typer.Option("--open", help="Only holds still open and not expired.")] = False,
    limit: Annotated[int, limit_option("At most this many.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """Without a command: list your holds, newest first (as `holds list` does)."""
    if ctx.invoked_subcommand is None:
        _list(get_state(ctx), only_open=only_open, limit=limit, every=every, cursor=cursor)


@holds_app.command("list")
def holds_list(
    ctx: typer.Context,
    only_open: Annotated[bool, typer.Option("--open", help="Only holds still open and not expired.")] = False,
    limit: Annotated[int, limit_option("At most this many.")] = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List the holds you placed or that were placed for you, newest first."""
    _list(get_state(ctx), only_open=only_open, limit=limit, every=every, cursor=cursor)


def _list(state: AppState, *, only_open: bool, limit: int, every: bool, cursor: str | None) -> None:
    show_list(
        state,
        "/v1/holds",
        {"open": "true"} if only_open else {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: show_holds(state.renderer, page),
        noun="holds",
    )


@holds_app.command("show")
def holds_show(ctx: typer.Context, hold_id: HoldIdArgument) -> None:
    """Show one hold."""
    state = get_state(ctx)
    with hints(hold_not_found=NOT_FOUND_HINT):
        show_hold(state.renderer, state.client().get(_hold_path(hold_id)))


@holds_app.command("capture")
def holds_capture(
    ctx: typer.Context,
    hold_id: HoldIdArgument,
    amount: Annotated[
        str | None,
        typer.Argument(
            metavar="[AMOUNT]", help="How much to pay now (default: all that is left).", show_default=False
        ),
    ] = None,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
) -> None:
    """Pay the payee from a hold you placed: all that is left, or AMOUNT of it (again later for more)."""
    state = get_state(ctx)
    key_for_send = idempotency_key(key)
    with hints(hold_not_found=NOT_FOUND_HINT):
        current = state.client().get(_hold_path(hold_id))
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = amount_minor(amount, current["currency"])
        paid = format_amount(body.get("amount", current["remaining"]), current["currency"])
        payee = views.person(current.get("payee"))
        _confirm(
            state,
            yes=yes,
            action="capture a hold",
            question=f"Pay {paid} to {payee} from hold {current['id']}?",
            details=hold_details(current),
        )
        reply = state.client().move_money(_hold_path(hold_id, "capture"), body, key_for_send)
    done = reply.data
    captured = done.get("capture") or {}
    moved = format_amount(captured.get("amount", 0), done["currency"]) if captured else paid
    _done(state, f"Paid {moved} to {payee} from hold {done['id']}", reply.replayed, done)


def _release(ctx: typer.Context, hold_id: str, action: str, key: str | None, yes: bool) -> None:
    state = get_state(ctx)
    key_for_send = idempotency_key(key)
    with hints(hold_not_found=NOT_FOUND_HINT):
        current = state.client().get(_hold_path(hold_id))
        left = format_amount(current["remaining"], current["currency"])
        _confirm(
            state,
            yes=yes,
            action=f"{action} a hold",
            question=f"{action.capitalize()} hold {current['id']}, releasing {left} to the payer?",
            details=hold_details(current),
        )
        reply = state.client().move_money(_hold_path(hold_id, action), {}, key_for_send)
    done = reply.data
    past = {"void": "Voided", "decline": "Declined"}[action]
    released = format_amount(done["released"], done["currency"])
    _done(state, f"{past} hold {done['id']}; {released} released in all", reply.replayed, done)


@holds_app.command("void")
def holds_void(
    ctx: typer.Context, hold_id: HoldIdArgument, key: IdempotencyKeyOption = None, yes: YesOption = False
) -> None:
    """End a hold you placed: what was not captured is yours to spend again."""
    _release(ctx, hold_id, "void", key, yes)


@holds_app.command("decline")
def holds_decline(
    ctx: typer.Context, hold_id: HoldIdArgument, key: IdempotencyKeyOption = None, yes: YesOption = False
) -> None:
    """Turn down a hold placed for you: what was not captured goes back to the payer."""
    _release(ctx, hold_id, "decline", key, yes)


@holds_app.command("extend")
def holds_extend(
    ctx: typer.Context,
    hold_id: HoldIdArgument,
    expires: ExpiresOption,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
) -> None:
    """Move a hold's expiry later: it then ends DURATION from now."""
    state = get_state(ctx)
    body = {"expires_in": seconds_of(expires)}
    key_for_send = idempotency_key(key)
    with hints(hold_not_found=NOT_FOUND_HINT):
        current = state.client().get(_hold_path(hold_id))
        _confirm(
            state,
            yes=yes,
            action="extend a hold",
            question=f"Extend hold {current['id']} to end {expires} from now?",
            details=hold_details(current),
        )
        reply = state.client().move_money(_hold_path(hold_id, "extend"), body, key_for_send)
    done = reply.data
    _done(state, f"Hold {done['id']} now expires {views.timestamp(done['expires_at'])}", reply.replayed, done)
