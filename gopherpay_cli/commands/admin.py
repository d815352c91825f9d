"""Operator commands (the daemon checks the admin role on every one)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import typer

from gopherpay_cli import views
from gopherpay_cli.commands.fx import rates_app
from gopherpay_cli.commands.transfers import announce_replay, in_words
from gopherpay_cli.confirm import (
    DryRunOption,
    YesOption,
    amount_text,
    confirm_action,
    confirm_movement,
)
from gopherpay_cli.errors import ExitCode, GopherPayError, UsageError, hints
from gopherpay_cli.listing import AllOption, CursorOption, show_list, waiting_spinner
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
from gopherpay_cli.state import AppState, get_state

app = typer.Typer(
    help="Operator commands: users, deposits, withdrawals, freezes, reversals, audit, events.",
    no_args_is_help=True,
)
events_app = typer.Typer(
    help="The event pipeline: outbox backlog, consumer lag, dead letters and their replay.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")
app.add_typer(rates_app, name="rates")

UserArgument = Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email address (or user id).")]
ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why; recorded in the audit log.")
]
MoneyReasonOption = Annotated[
    str,
    typer.Option(
        "--reason", metavar="TEXT", help="Why; recorded in the audit log only, never shown to the customer."
    ),
]
MemoOption = Annotated[
    str | None,
    memo_option(
        f"What the customer sees on the transfer (at most {MEMO_MAX_LENGTH} chars); none by default."
    ),
]
WalletOption = Annotated[
    str | None,
    typer.Option("--wallet", metavar="CURRENCY", help="Only this wallet, not the whole account."),
]
LimitOption = Annotated[int, limit_option("At most this many entries.")]


@app.command()
def users(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Option("--search", metavar="Q", help="Only users whose email or name contains Q."),
    ] = None,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List users with their wallets."""
    state = get_state(ctx)
    params = {"q": search} if search else {}
    show_list(
        state,
        "/v1/admin/users",
        params,
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_admin_users(state.renderer, page),
        noun="users",
    )


@app.command()
def deposit(
    ctx: typer.Context,
    user: UserArgument,
    amount: AmountArgument,
    currency: CurrencyArgument,
    reason: MoneyReasonOption,
    memo: MemoOption = None,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Put money from the outside world into a user's wallet (never your own)."""
    body = _money_body(user, amount, currency, reason, memo)
    state = get_state(ctx)
    if confirm_movement(
        state,
        "/v1/admin/deposits",
        body,
        yes=yes,
        dry_run=dry_run,
        action="deposit money",
        phrase=lambda t: f"deposit {amount_text(t)} into the wallet of {views.person(t.get('recipient'))}",
    ):
        _move_money(state, "/v1/admin/deposits", body, key, lambda amount: f"Deposited {amount} to {user}")


@app.command()
def withdraw(
    ctx: typer.Context,
    user: UserArgument,
    amount: AmountArgument,
    currency: CurrencyArgument,
    reason: MoneyReasonOption,
    memo: MemoOption = None,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Take money out of a user's wallet to the outside world (never your own)."""
    body = _money_body(user, amount, currency, reason, memo)
    state = get_state(ctx)
    with in_words(f"the {body['currency']} wallet of {user}"):
        _withdraw(state, body, key, user, yes=yes, dry_run=dry_run)


def _withdraw(
    state: AppState, body: dict[str, Any], key: str | None, user: str, *, yes: bool, dry_run: bool
) -> None:
    if confirm_movement(
        state,
        "/v1/admin/withdrawals",
        body,
        yes=yes,
        dry_run=dry_run,
        action="withdraw money",
        phrase=lambda t: f"withdraw {amount_text(t)} from the wallet of {views.person(t.get('sender'))}",
    ):
        _move_money(
            state, "/v1/admin/withdrawals", body, key, lambda amount: f"Withdrew {amount} from {user}"
        )


@app.command()
def freeze(
    ctx: typer.Context,
    user: UserArgument,
    reason: ReasonOption,
    wallet: WalletOption = None,
    yes: YesOption = False,
) -> None:
    """Freeze an account (no login, no money movement) or one of its wallets."""
    _set_frozen(get_state(ctx), user, wallet, reason, frozen=True, yes=yes)


@app.command()
def unfreeze(
    ctx: typer.Context,
    user: UserArgument,
    reason: ReasonOption,
    wallet: WalletOption = None,
    yes: YesOption = False,
) -> None:
    """Lift a freeze on an account or one of its wallets."""
    _set_frozen(get_state(ctx), user, wallet, reason, frozen=False, yes=yes)


@app.command()
def reverse(
    ctx: typer.Context,
    transfer_id: Annotated[str, typer.Argument(metavar="TRANSFER_ID", help="The transfer to undo.")],
    reason: MoneyReasonOption,
    memo: MemoOption = None,
    key: IdempotencyKeyOption = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Undo a transfer with a new transfer in the opposite direction (not one of your own)."""
    state = get_state(ctx)
    path = f"/v1/admin/transfers/{quote(transfer_id, safe='')}/reverse"
    body = _with_memo({"reason": reason}, memo)
    key_for_send = idempotency_key(key)
    if not confirm_movement(
        state,
        path,
        body,
        yes=yes,
        dry_run=dry_run,
        action="reverse a transfer",
        phrase=lambda t: (
            f"reverse transfer {transfer_id}: move {amount_text(t)} from "
            f"{views.person(t.get('sender'))} back to {views.person(t.get('recipient'))}"
        ),
    ):
        return
    reply = state.client().move_money(path, body, key_for_send)
    reversal = reply.data
    state.renderer.info(f"Reversed transfer {transfer_id} (reversal {reversal['id']})")
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, reversal)


@app.command()
def audit(ctx: typer.Context) -> None:
    """Check the ledger's invariants; exits 1 when any is violated."""
    state = get_state(ctx)
    with waiting_spinner("Auditing the ledger", shown=sys.stderr.isatty() and not state.quiet):
        report = state.client().get("/v1/admin/audit")
    views.show_audit(state.renderer, report)
    violations = report.get("violations", [])
    if violations or not report.get("ok", False):
        raise GopherPayError(f"The audit found {len(violations)} invariant violation(s)", ExitCode.FAILURE)
    state.renderer.info(f"Ledger OK: every invariant holds (checked {report.get('checked_at')}).")


@app.command()
def log(
    ctx: typer.Context, limit: LimitOption = 50, every: AllOption = False, cursor: CursorOption = None
) -> None:
    """Show the operator audit log, newest first."""
    state = get_state(ctx)
    show_list(
        state,
        "/v1/admin/audit-log",
        {},
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_audit_log(state.renderer, page),
        noun="entries",
    )


@events_app.command("status")
def events_status(ctx: typer.Context) -> None:
    """Show the outbox backlog, the oldest unpublished event, consumer lag and dead letters."""
    state = get_state(ctx)
    views.show_events_status(state.renderer, state.client().get("/v1/admin/events/status"))


@events_app.command("dead-letters")
def events_dead_letters(
    ctx: typer.Context,
    pending: Annotated[bool, typer.Option("--pending", help="Only those not replayed yet.")] = False,
    limit: LimitOption = 50,
    every: AllOption = False,
    cursor: CursorOption = None,
) -> None:
    """List events whose delivery failed for good, newest first."""
    state = get_state(ctx)
    params = {"pending": "true"} if pending else {}
    show_list(
        state,
        "/v1/admin/events/dead-letters",
        params,
        limit=limit,
        every=every,
        cursor=cursor,
        show_page=lambda page: views.show_dead_letters(state.renderer, page, pending_only=pending),
        noun="dead letters",
    )


@events_app.command("replay")
def events_replay(
    ctx: typer.Context,
    reason: ReasonOption,
    dead_letter_id: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="The dead letter to deliver again (see: events dead-letters)."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter not replayed yet.")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="With --all: do it without asking first (needed without a terminal)."
        ),
    ] = False,
) -> None:
    """Deliver dead-lettered events again (each at most once to its recipient)."""
    state = get_state(ctx)
    if every:
        if dead_letter_id is not None:
            raise UsageError("Give either a dead letter ID or --all, not both")
        confirm_action(
            state,
            yes=yes,
            action="replay every dead letter",
            question="Deliver every dead letter not replayed yet again?",
        )
        requested = state.client().post("/v1/admin/events/dead-letters/replay", {"reason": reason})
        count = requested.get("requested", 0) if isinstance(requested, dict) else 0
        state.renderer.info(f"Requested a replay of {views.plural(count, 'dead letter')}.")
        views.show(state.renderer, requested)
        return
    if dead_letter_id is None:
        raise UsageError(
            "Give the ID of the dead letter to replay, or --all",
            hint="See them with: gopherpay admin events dead-letters --pending",
        )
    path = f"/v1/admin/events/dead-letters/{quote(dead_letter_id, safe='')}/replay"
    hint = "See the dead letters: gopherpay admin events dead-letters"
    with hints(not_found=hint, dead_letter_not_found=hint):
        dead_letter = state.client().post(path, {"reason": reason})
    event = f" (event {dead_letter['event_id']})" if dead_letter.get("event_id") else ""
    state.renderer.info(f"Requested a replay of dead letter {dead_letter_id}{event}.")
    views.show(state.renderer, dead_letter)


def _money_body(user: str, amount: str, currency: str, reason: str, memo: str | None) -> dict[str, Any]:
    code = currency_code(currency)
    body = {"user": user, "amount": amount_minor(amount, code), "currency": code, "reason": reason}
    return _with_memo(body, memo)


def _with_memo(body: dict[str, Any], memo: str | None) -> dict[str, Any]:
    """The customer-facing memo, sent only when given: the reason stays in the audit log."""
    if memo is None:
        return body
    return {**body, "memo": checked_memo(memo)}


def _move_money(
    state: AppState, path: str, body: dict[str, Any], key: str | None, done: Callable[[str], str]
) -> None:
    """Send an operator's money movement; `done(amount)` says what happened."""
    reply = state.client().move_money(path, body, idempotency_key(key))
    transfer = reply.data
    amount = format_amount(transfer["amount"], transfer["currency"])
    state.renderer.info(f"{done(amount)} (transfer {transfer['id']})")
    announce_replay(state, reply.replayed)
    views.show_transfer(state.renderer, transfer)


def _set_frozen(
    state: AppState, user: str, wallet: str | None, reason: str, *, frozen: bool, yes: bool
) -> None:
    action = "freeze" if frozen else "unfreeze"
    path = f"/v1/admin/users/{quote(user, safe='@')}"
    target = f"the account of {user}"
    if wallet is not None:
        code = currency_code(wallet)
        path += f"/wallets/{code}"
        target = f"the {code} wallet of {user}"
    confirm_action(
        state,
        yes=yes,
        action=f"{action} {'a wallet' if wallet is not None else 'an account'}",
        question=f"{action.capitalize()} {target}?",
    )
    result = state.client().post(f"{path}/{action}", {"reason": reason})
    state.renderer.info(f"{'Froze' if frozen else 'Unfroze'} {target}.")
    views.show(state.renderer, result)
