"""Asking before money moves or an account changes: the question, `--yes` and `--dry-run`.

On a terminal the command shows what it is about to do and asks `[y/N]` on stderr;
anything but y or yes cancels. Without a terminal on stdin, or with `--no-input`,
there is nobody to ask: the command refuses before sending anything unless `--yes`
is given (exit status 2, like any other missing argument).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from gopherpay_cli.errors import ExitCode, GopherPayError, UsageError
from gopherpay_cli.money import format_amount
from gopherpay_cli.render import printable
from gopherpay_cli.state import AppState
from gopherpay_cli.views import person, show

YesOption = Annotated[
    bool,
    typer.Option(
        "--yes",
        "-y",
        help="Do it without asking first. Needed when stdin is not a terminal or with --no-input.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Only check the request with the daemon (recipient, funds, freezes, the fee) "
        "and say what would happen; nothing moves.",
    ),
]


class Cancelled(GopherPayError):
    """The user answered no (exit status 1): nothing was sent."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Cancelled: {what}", ExitCode.FAILURE)


def must_ask(state: AppState, *, yes: bool, action: str, offers_dry_run: bool = True) -> bool:
    """True when the user is to be asked; a usage error when nobody can answer.

    `action` says what would be done, for the error (`send money`, `freeze an account`);
    `offers_dry_run`: the command has a --dry-run, which the error then suggests.
    """
    if yes:
        return False
    if state.no_input:
        raise UsageError(f"--yes is required to {action} when --no-input is set")
    if sys.stdin is None or not sys.stdin.isatty():
        or_dry_run = ", or --dry-run to only check it" if offers_dry_run else ""
        raise UsageError(
            f"Not asking to {action}: stdin is not a terminal",
            hint=f"Pass --yes to go ahead without confirming{or_dry_run}.",
        )
    return True


def ask(question: str, details: Sequence[tuple[str, str]] = (), *, cancelled: str) -> None:
    """Show `details`, ask `question [y/N]` on stderr; anything but y/yes raises Cancelled."""
    width = max((len(name) for name, _ in details), default=0)
    for name, value in details:
        print(f"  {name + ':':<{width + 1}} {printable(value)}", file=sys.stderr)
    print(f"{printable(question)} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print(file=sys.stderr)  # end the prompt's line before the error
    if answer.strip().lower() not in ("y", "yes"):
        raise Cancelled(cancelled)


def fee_text(preview: dict[str, Any]) -> str:
    fee = preview.get("fee") or {}
    currency = fee.get("currency") or preview["transfer"]["currency"]
    return format_amount(int(fee.get("amount", 0)), currency)


def amount_text(transfer: dict[str, Any]) -> str:
    return format_amount(transfer["amount"], transfer["currency"])


def movement_details(transfer: dict[str, Any], preview: dict[str, Any]) -> list[tuple[str, str]]:
    """What a money movement would do, as the question and a dry run show it."""
    pairs = [
        ("From", person(transfer.get("sender"))),
        ("To", person(transfer.get("recipient"))),
        ("Amount", amount_text(transfer)),
        ("Fee", fee_text(preview)),
        ("Memo", str(transfer.get("memo") or "")),
    ]
    return [(name, value) for name, value in pairs if value]


def sentence(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def confirm_movement(
    state: AppState,
    path: str,
    body: dict[str, Any],
    *,
    yes: bool,
    dry_run: bool,
    action: str,
    phrase: Callable[[dict[str, Any]], str],
    details: Callable[[dict[str, Any], dict[str, Any]], list[tuple[str, str]]] = movement_details,
) -> bool:
    """Check a money movement with the daemon first when asked to, or to show the question.

    `phrase(transfer)` says what the movement does (`send 12.34 USD to Bob <bob@…>`), and
    `details(transfer, preview)` the lines shown with it. True when the caller is to send
    it for real; False after a dry run, which printed what would happen. A refusal from
    the daemon is raised as the real request's would be.
    """
    asking = False if dry_run else must_ask(state, yes=yes, action=action)
    if not (dry_run or asking):
        return True
    preview = state.client().preview(path, body)
    transfer = preview["transfer"]
    if dry_run:
        state.renderer.info(f"Dry run: the daemon would {phrase(transfer)}. Nothing moved.")
        show(state.renderer, preview, lambda: state.renderer.details(details(transfer, preview)))
        return False
    ask(f"{sentence(phrase(transfer))}?", details(transfer, preview), cancelled="nothing moved")
    return True


def confirm_action(state: AppState, *, yes: bool, action: str, question: str) -> None:
    """Ask before an action that moves no money (a freeze, a replay); Cancelled on no."""
    if must_ask(state, yes=yes, action=action):
        ask(question, cancelled="nothing was changed")
