"""How each API object looks on screen: `--json` as returned, else tables in major units.

Every function takes the object the daemon answered and shows it through the
Renderer, so commands never format anything themselves. `show` is the one place
that chooses between `--json` and the human form; each `show_*` view is a human
form that `@view` routes through it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar

from gopherpay_cli.money import format_amount
from gopherpay_cli.render import Renderer, printable

OUTSIDE_WORLD = "outside world"
HISTORY_COLUMNS = ("date", "kind", "direction", "amount", "counterparty", "memo", "id")
FOLLOW_WIDTHS = (25, 10, 9, 18, 24, 20)
"""Widths of the history columns before the id when `history --follow` prints rows one at a time."""
HISTORY_CSV_HEADER = (
    "created_at",
    "id",
    "kind",
    "direction",
    "amount_minor",
    "currency",
    "amount",
    "counterparty",
    "memo",
)

P = ParamSpec("P")
ApiObject = TypeVar("ApiObject")


def show(
    renderer: Renderer,
    api_object: Any,
    render_human: Callable[[], None] | None = None,
    *,
    one_line: bool = False,
) -> None:
    """A command's result: with `--json`, `api_object` exactly as the daemon returned it
    (one NDJSON line when `one_line`); otherwise `render_human()`, or nothing at all when
    there is none (the command's message on stderr said what happened)."""
    if renderer.json_output:
        if one_line:
            renderer.json_line(api_object)
        else:
            renderer.json(api_object)
    elif render_human is not None:
        render_human()


def view(
    render_human: Callable[Concatenate[Renderer, ApiObject, P], None],
) -> Callable[Concatenate[Renderer, ApiObject, P], None]:
    """Make `render_human(renderer, api_object, ...)` a view: with `--json` it prints `api_object`."""

    @functools.wraps(render_human)
    def show_api_object(
        renderer: Renderer, api_object: ApiObject, /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        show(renderer, api_object, lambda: render_human(renderer, api_object, *args, **kwargs))

    return show_api_object


_show_utc = False


def use_utc(utc: bool) -> None:
    """`--utc`: show times in UTC instead of the local time zone (still with the offset)."""
    global _show_utc
    _show_utc = utc


def local_moment(moment: datetime) -> datetime:
    """`moment` in the zone times are shown in: the local one (TZ), or UTC with --utc.

    A time without an offset is one of the daemon's, which are all UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC) if _show_utc else moment.astimezone()


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` where times are shown: local (TZ), or UTC with --utc."""
    midnight = datetime.combine(day, time())
    return midnight.replace(tzinfo=UTC) if _show_utc else midnight.astimezone()


def offset_text(moment: datetime) -> str:
    """`+01:00`, `-05:30`, `+00:00`: the explicit offset every shown time carries."""
    text = moment.strftime("%z")
    return f"{text[:3]}:{text[3:5]}" if len(text) >= 5 else "+00:00"


def timestamp(value: str | None, *, seconds: bool = True) -> str:
    """`2026-11-26T16:34:27.123456Z` → `2026-11-26 17:34:27 +01:00` in Paris (`--utc`: `+00:00`).

    Without `seconds`, `2026-11-26 17:34 +01:00`, as the history table shows it.
    """
    if not value:
        return ""
    try:
        moment = local_moment(datetime.fromisoformat(value))
    except ValueError:
        return value
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {offset_text(moment)}"


def yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def plural(count: int, noun: str) -> str:
    """`1 notification`, `2 notifications`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def duration(seconds: int) -> str:
    """A validity period in words: `15 minutes`, `1 hour`, `45 seconds`."""
    if seconds < 60:
        return plural(seconds, "second")
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    return plural(round(seconds / 60), "minute")


def age(seconds: float | None) -> str:
    """How long ago something happened, to the second: `4.2 s ago`, `3 min 5 s ago`."""
    if seconds is None:
        return "none"
    if seconds < 60:
        return f"{seconds:.1f} s ago"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s ago"
    return f"{whole // 3600} h {whole % 3600 // 60} min ago"


def party_label(party: Any) -> str:
    """Who is on one side of a transfer: email, else name, else wallet id."""
    if not isinstance(party, dict):
        return ""
    if party.get("system"):
        return OUTSIDE_WORLD
    return str(party.get("email") or party.get("full_name") or party.get("wallet_id") or "")


def person(party: Any) -> str:
    """`Bob Builder <bob@example.com>`, or the email alone, or `the outside world`."""
    if not isinstance(party, dict):
        return ""
    if party.get("system"):
        return "the outside world"
    name, email = party.get("full_name"), party.get("email")
    if name and email:
        return f"{name} <{email}>"
    return str(email or name or party.get("wallet_id") or "")


def counterparty(transfer: dict[str, Any]) -> str:
    """The other side, seen from the caller; both sides when the caller is not a party."""
    direction = transfer.get("direction")
    if direction == "out":
        return party_label(transfer.get("recipient"))
    if direction == "in":
        return party_label(transfer.get("sender"))
    return f"{party_label(transfer.get('sender'))} → {party_label(transfer.get('recipient'))}"


def caller_amount(transfer: dict[str, Any]) -> tuple[int, str]:
    """The amount and currency as the caller's wallet saw them, money out negative: the
    recipient of an FX payment received the quote's buy side, not the `amount` sent."""
    fx = transfer.get("fx")
    if fx and transfer.get("direction") == "in":
        return int(fx["buy_amount"]), str(fx["buy"])
    amount: int = transfer["amount"]
    return (-amount if transfer.get("direction") == "out" else amount), str(transfer["currency"])


def caller_amount_text(transfer: dict[str, Any]) -> str:
    """`-12.34 USD`: the caller's side of the transfer, formatted."""
    return format_amount(*caller_amount(transfer))


def fx_summary(fx: dict[str, Any] | None) -> str:
    """`100.00 USD -> 91.66 EUR at 0.9213, fee 0.50 USD`: what an FX movement sold and bought."""
    if not fx:
        return ""
    sold, bought = format_amount(fx["sell_amount"], fx["sell"]), format_amount(fx["buy_amount"], fx["buy"])
    return f"{sold} -> {bought} at {fx['rate']}, fee {format_amount(fx['fee'], fx['sell'])}"


@view
def show_user(renderer: Renderer, user: dict[str, Any]) -> None:
    verified = [("Verified", yes_no(user["email_verified"]))] if "email_verified" in user else []
    renderer.details(
        [
            ("Email", user.get("email", "")),
            *verified,
            ("Name", user.get("full_name", "")),
            ("Role", user.get("role", "")),
            ("Frozen", yes_no(user.get("frozen"))),
            ("User id", user.get("id", "")),
            ("Since", timestamp(user.get("created_at"))),
        ]
    )


@view
def show_sessions(renderer: Renderer, page: dict[str, Any]) -> None:
    rows = [
        (
            session["id"] + (" (this one)" if session.get("current") else ""),
            timestamp(session.get("created_at")),
            timestamp(session.get("last_used_at")),
            f"revoked {timestamp(session['revoked_at'])}"
            if session.get("revoked_at")
            else f"expires {timestamp(session.get('expires_at'))}",
            session.get("client_ip") or "",
            session.get("user_agent") or "",
        )
        for session in page.get("items", [])
    ]
    renderer.table(("id", "created", "last used", "status", "address", "client"), rows)


@view
def show_wallets(renderer: Renderer, page: dict[str, Any]) -> None:
    """The caller's wallets with balances (the API's list of wallets)."""
    _wallet_table(renderer, page.get("items", []))


@view
def show_wallet(renderer: Renderer, wallet: dict[str, Any]) -> None:
    """One wallet with its balance."""
    _wallet_table(renderer, [wallet])


def _wallet_table(renderer: Renderer, wallets: Sequence[dict[str, Any]]) -> None:
    if not wallets:
        renderer.info("You have no open wallets. Open one with: gopherpay wallets open USD")
        return
    rows = [
        (
            wallet["currency"],
            format_amount(wallet["balance"], wallet["currency"]),
            format_amount(wallet.get("held", 0), wallet["currency"]),
            format_amount(wallet.get("available", wallet["balance"]), wallet["currency"]),
            yes_no(wallet.get("frozen")),
            wallet["id"],
        )
        for wallet in wallets
    ]
    renderer.table(
        ("currency", "balance", "held", "available", "frozen", "wallet id"),
        rows,
        right_aligned=("balance", "held", "available"),
    )


@view
def show_transfer(renderer: Renderer, transfer: dict[str, Any]) -> None:
    pairs = [
        ("Transfer", transfer["id"]),
        ("Kind", transfer.get("kind", "")),
        ("Amount", format_amount(transfer["amount"], transfer["currency"])),
        ("From", party_label(transfer.get("sender"))),
        ("To", party_label(transfer.get("recipient"))),
        ("Exchange", fx_summary(transfer.get("fx"))),
        ("Memo", transfer.get("memo") or ""),
        ("Reverses", transfer.get("reverses_transfer_id") or ""),
        ("Date", timestamp(transfer.get("created_at"))),
    ]
    renderer.details([(name, value) for name, value in pairs if value])


@view
def show_currencies(renderer: Renderer, listing: dict[str, Any]) -> None:
    """Supported currencies: code, name, digits of the minor unit, and how an amount reads."""
    rows = [
        (
            currency["code"],
            str(currency.get("name", "")),
            str(currency["exponent"]),
            format_amount(int(Decimal("1234.567").scaleb(int(currency["exponent"]))), currency["code"]),
        )
        for currency in listing.get("items", [])
    ]
    renderer.table(("code", "name", "minor units", "example"), rows, right_aligned=("minor units", "example"))


@view
def show_receipt(renderer: Renderer, transfer: dict[str, Any]) -> None:
    """`transfer show ID`: one transfer as a receipt, both parties by name and email."""
    direction = transfer.get("direction")
    kind = str(transfer.get("kind", ""))
    title = {"out": "sent", "in": "received"}.get(direction or "", "")
    pairs = [
        ("Receipt", f"{kind} {title}".strip()),
        ("Date", timestamp(transfer.get("created_at"))),
        ("From", person(transfer.get("sender"))),
        ("To", person(transfer.get("recipient"))),
        ("Amount", format_amount(transfer["amount"], transfer["currency"])),
        *_fx_receipt_lines(transfer),
        ("Memo", transfer.get("memo") or ""),
        ("Reverses", transfer.get("reverses_transfer_id") or ""),
        ("Transfer id", transfer["id"]),
    ]
    renderer.details([(name, value) for name, value in pairs if value])


def _fx_receipt_lines(transfer: dict[str, Any]) -> list[tuple[str, str]]:
    """A receipt's fee, and for an FX movement what was received and at which rate (its fee
    is the quote's spread, in the currency sold)."""
    fx = transfer.get("fx")
    if not fx:
        return [("Fee", format_amount(0, transfer["currency"]))]
    return [
        ("Received", format_amount(fx["buy_amount"], fx["buy"])),
        ("Fee", format_amount(fx["fee"], fx["sell"])),
        ("Exchange", fx_summary(fx)),
    ]


@view
def show_history(renderer: Renderer, page: dict[str, Any], *, as_csv: bool, wide: bool = False) -> None:
    """Transfers newest first: table, CSV (raw and formatted amounts) or the API page.

    On a terminal the table fits its width (80 columns and up): minutes, the offset once in
    the header, short ids, long names and memos cut. `wide`, or stdout not a terminal
    (tab-separated lines then): every column, full times and ids.
    """
    transfers = page.get("items", [])
    if as_csv:
        renderer.csv(HISTORY_CSV_HEADER, [history_csv_row(transfer) for transfer in transfers])
        return
    if wide or not sys.stdout.isatty():
        rows = [history_row(transfer) for transfer in transfers]
        renderer.table(HISTORY_COLUMNS, rows, right_aligned=("amount",))
        return
    columns, narrow_rows = narrow_history(transfers)
    renderer.table(columns, narrow_rows, right_aligned=("amount",), truncated=("counterparty", "memo"))


SHORT_ID = 8
"""Characters of a transfer id the narrow history shows (`transfer show` takes them)."""


def minute_dates(values: Sequence[Any]) -> tuple[str, list[str]]:
    """The `date` column of a narrow table: each time to the minute where times are shown,
    with the offset once in the header when every row shares it, else in each row."""
    moments = [_moment(value) for value in values]
    offsets = {offset_text(moment) for moment in moments if moment is not None}
    shared = offsets.pop() if len(offsets) == 1 else None
    cells = [
        str(value or "")
        if moment is None
        else moment.strftime("%Y-%m-%d %H:%M") + ("" if shared else f" {offset_text(moment)}")
        for value, moment in zip(values, moments, strict=True)
    ]
    return (f"date ({shared})" if shared else "date"), cells


def narrow_history(transfers: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The history's columns for a terminal: date to the minute, amount, counterparty, memo,
    short id."""
    date_header, dates = minute_dates([transfer.get("created_at") for transfer in transfers])
    rows: list[tuple[str, ...]] = [
        (
            date,
            caller_amount_text(transfer),
            counterparty(transfer) + kind_note(transfer),
            str(transfer.get("memo") or ""),
            str(transfer["id"])[:SHORT_ID],
        )
        for transfer, date in zip(transfers, dates, strict=True)
    ]
    return (date_header, "amount", "counterparty", "memo", "id"), rows


def kind_note(transfer: dict[str, Any]) -> str:
    """What the narrow table says after the counterparty: a reversal or a withdrawal names its
    kind (a deposit reads `outside world`); an FX movement, both sides of the exchange."""
    fx = transfer.get("fx")
    if fx:
        sold, bought = (
            format_amount(fx["sell_amount"], fx["sell"]),
            format_amount(fx["buy_amount"], fx["buy"]),
        )
        return f" ({transfer.get('kind')} {sold} -> {bought})"
    return f" ({transfer['kind']})" if transfer.get("kind") in ("reversal", "withdrawal") else ""


def fx_note(transfer: dict[str, Any]) -> str:
    """The wide table's and the CSV's addition to the counterparty: an FX movement's exchange."""
    summary = fx_summary(transfer.get("fx"))
    return f" ({summary})" if summary else ""


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return local_moment(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def history_row(transfer: dict[str, Any]) -> tuple[str, ...]:
    """One transfer in the history's columns (HISTORY_COLUMNS)."""
    return (
        timestamp(transfer.get("created_at")),
        transfer.get("kind", ""),
        transfer.get("direction") or "",
        caller_amount_text(transfer),
        counterparty(transfer) + fx_note(transfer),
        transfer.get("memo") or "",
        transfer["id"],
    )


def history_line(cells: Sequence[str]) -> str:
    """History cells as one line of fixed-width columns, so rows printed one at a time line up.

    A cell wider than its column pushes the rest of its own line to the right.
    """
    padded = []
    for index, cell in enumerate(cells):
        text = printable(cell)
        if index < len(FOLLOW_WIDTHS):
            width = FOLLOW_WIDTHS[index]
            is_amount = HISTORY_COLUMNS[index] == "amount"
            text = text.rjust(width) if is_amount else text.ljust(width)
        padded.append(text)
    return "  ".join(padded).rstrip()


def show_followed_transfer(renderer: Renderer, transfer: dict[str, Any], *, first: bool) -> None:
    """A transfer as it happens: a line of NDJSON, or a history row (after a header line if first)."""

    def print_row() -> None:
        if first:
            renderer.line(history_line(HISTORY_COLUMNS))
        renderer.line(history_line(history_row(transfer)))

    show(renderer, transfer, print_row, one_line=True)


def notification_text(notification: dict[str, Any]) -> str:
    """`title — body`, or whichever of the two there is."""
    parts = [str(notification.get(name) or "") for name in ("title", "body")]
    return " — ".join(part for part in parts if part)


@view
def show_notifications(renderer: Renderer, page: dict[str, Any], *, unread_only: bool) -> None:
    notifications = page.get("items", [])
    if not notifications:
        renderer.info("No unread notifications." if unread_only else "No notifications.")
        return
    rows = [
        (
            timestamp(notification.get("created_at")),
            notification.get("type", ""),
            notification_text(notification),
            yes_no(notification.get("read_at")),
            notification.get("id", ""),
        )
        for notification in notifications
    ]
    renderer.table(("date", "type", "notification", "read", "id"), rows)


def history_csv_row(transfer: dict[str, Any]) -> tuple[str | int, ...]:
    amount_minor, currency = caller_amount(transfer)
    return (
        transfer.get("created_at", ""),
        transfer["id"],
        transfer.get("kind", ""),
        transfer.get("direction") or "",
        amount_minor,
        currency,
        format_amount(amount_minor, currency),
        counterparty(transfer) + fx_note(transfer),
        transfer.get("memo") or "",
    )


@view
def show_admin_users(renderer: Renderer, page: dict[str, Any]) -> None:
    rows = [
        (
            user.get("email", ""),
            user.get("full_name", ""),
            user.get("role", ""),
            yes_no(user.get("frozen")),
            ", ".join(_wallet_summary(wallet) for wallet in user.get("wallets", [])),
            user.get("id", ""),
        )
        for user in page.get("items", [])
    ]
    renderer.table(("email", "name", "role", "frozen", "wallets", "id"), rows)


def _wallet_summary(wallet: dict[str, Any]) -> str:
    summary = format_amount(wallet["balance"], wallet["currency"])
    return f"{summary} (frozen)" if wallet.get("frozen") else summary


@view
def show_audit(renderer: Renderer, report: dict[str, Any]) -> None:
    """The audit report; violations, if any, come first."""
    violations = report.get("violations", [])
    if violations:
        renderer.table(
            ("invariant", "subject", "detail"),
            [
                (str(v.get("invariant", "")), str(v.get("subject", "")), str(v.get("detail", "")))
                for v in violations
            ],
        )
    renderer.table(
        ("currency", "wallets total", "deposits", "withdrawals"),
        [
            (
                total["currency"],
                format_amount(total["wallets_total"], total["currency"]),
                format_amount(total["deposits"], total["currency"]),
                format_amount(total["withdrawals"], total["currency"]),
            )
            for total in report.get("totals", [])
        ],
        right_aligned=("wallets total", "deposits", "withdrawals"),
    )
    positions = report.get("fx_positions", [])
    if positions:  # what the FX house bought minus paid out, and the spread earned, per currency
        renderer.table(
            ("currency", "fx house position", "fx revenue"),
            [
                (
                    position["currency"],
                    format_amount(position["house"], position["currency"]),
                    format_amount(position["revenue"], position["currency"]),
                )
                for position in positions
            ],
            right_aligned=("fx house position", "fx revenue"),
        )
    counts = report.get("counts", {})
    renderer.details([(name.replace("_", " "), str(count)) for name, count in counts.items()])


@view
def show_audit_log(renderer: Renderer, page: dict[str, Any]) -> None:
    rows = [
        (
            timestamp(entry.get("created_at")),
            entry.get("actor_email") or entry.get("actor_id") or "",
            entry.get("action", ""),
            str(entry.get("target") or ""),
            entry.get("reason") or "",
            entry.get("id", ""),
        )
        for entry in page.get("items", [])
    ]
    renderer.table(("date", "actor", "action", "target", "reason", "id"), rows)


@view
def show_events_status(renderer: Renderer, status: dict[str, Any]) -> None:
    """The event pipeline's health: outbox backlog, consumer lag, dead letters."""
    lag = status.get("consumer_lag")
    renderer.details(
        [
            ("Transport", str(status.get("transport", ""))),
            ("Outbox backlog", str(status.get("outbox_backlog", ""))),
            ("Oldest unpublished", age(status.get("oldest_unpublished_age_seconds"))),
            ("Consumer lag", "n/a" if lag is None else str(lag)),
            ("Unhandled events", str(status.get("unhandled_events", ""))),
            ("Dead letters", str(status.get("dead_letters", ""))),
            ("Awaiting replay", str(status.get("dead_letters_awaiting_replay", ""))),
        ]
    )


def replay_state(dead_letter: dict[str, Any]) -> str:
    if dead_letter.get("replayed_at"):
        return f"replayed {timestamp(dead_letter['replayed_at'])}"
    if dead_letter.get("replay_requested_at"):
        return f"requested {timestamp(dead_letter['replay_requested_at'])}"
    return "not replayed"


@view
def show_dead_letters(renderer: Renderer, page: dict[str, Any], *, pending_only: bool) -> None:
    dead_letters = page.get("items", [])
    if not dead_letters:
        renderer.info("No dead letters awaiting replay." if pending_only else "No dead letters.")
        return
    rows = [
        (
            timestamp(dead_letter.get("created_at")),
            dead_letter.get("event_type", ""),
            str(dead_letter.get("user_id") or ""),
            str(dead_letter.get("attempts", "")),
            dead_letter.get("reason") or "",
            replay_state(dead_letter),
            dead_letter.get("id", ""),
        )
        for dead_letter in dead_letters
    ]
    renderer.table(("date", "event", "user", "attempts", "reason", "replay", "id"), rows)
