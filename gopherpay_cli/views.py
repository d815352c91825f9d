"""How each API object looks on screen: `--json` as returned, else tables in major units.

Every function takes the object the daemon answered and shows it through the
Renderer, so commands never format anything themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gopherpay_cli.money import format_amount
from gopherpay_cli.render import Renderer

OUTSIDE_WORLD = "outside world"
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


def timestamp(value: str | None) -> str:
    """`2026-11-26T16:34:27.123456Z` → `2026-11-26 16:34:27` (UTC)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def party_label(party: Any) -> str:
    """Who is on one side of a transfer: email, else name, else wallet id."""
    if not isinstance(party, dict):
        return ""
    if party.get("system"):
        return OUTSIDE_WORLD
    return str(party.get("email") or party.get("full_name") or party.get("wallet_id") or "")


def counterparty(transfer: dict[str, Any]) -> str:
    """The other side, seen from the caller; both sides when the caller is not a party."""
    direction = transfer.get("direction")
    if direction == "out":
        return party_label(transfer.get("recipient"))
    if direction == "in":
        return party_label(transfer.get("sender"))
    return f"{party_label(transfer.get('sender'))} → {party_label(transfer.get('recipient'))}"


def signed_amount_minor(transfer: dict[str, Any]) -> int:
    """The amount with the caller's sign: money out is negative."""
    amount: int = transfer["amount"]
    return -amount if transfer.get("direction") == "out" else amount


def show_user(renderer: Renderer, user: dict[str, Any]) -> None:
    if renderer.json_output:
        renderer.json(user)
        return
    renderer.details(
        [
            ("Email", user.get("email", "")),
            ("Name", user.get("full_name", "")),
            ("Role", user.get("role", "")),
            ("Frozen", yes_no(user.get("frozen"))),
            ("User id", user.get("id", "")),
            ("Since", timestamp(user.get("created_at"))),
        ]
    )


def show_sessions(renderer: Renderer, page: dict[str, Any]) -> None:
    if renderer.json_output:
        renderer.json(page)
        return
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


def show_wallets(renderer: Renderer, wallets: Sequence[dict[str, Any]], api_object: Any) -> None:
    """Wallets with balances; `api_object` is what `--json` prints."""
    if renderer.json_output:
        renderer.json(api_object)
        return
    if not wallets:
        renderer.info("You have no open wallets. Open one with: gopherpay wallets open USD")
        return
    rows = [
        (
            wallet["currency"],
            format_amount(wallet["balance"], wallet["currency"]),
            yes_no(wallet.get("frozen")),
            wallet["id"],
        )
        for wallet in wallets
    ]
    renderer.table(("currency", "balance", "frozen", "wallet id"), rows, right_aligned=("balance",))


def show_transfer(renderer: Renderer, transfer: dict[str, Any]) -> None:
    if renderer.json_output:
        renderer.json(transfer)
        return
    pairs = [
        ("Transfer", transfer["id"]),
        ("Kind", transfer.get("kind", "")),
        ("Amount", format_amount(transfer["amount"], transfer["currency"])),
        ("From", party_label(transfer.get("sender"))),
        ("To", party_label(transfer.get("recipient"))),
        ("Memo", transfer.get("memo") or ""),
        ("Reverses", transfer.get("reverses_transfer_id") or ""),
        ("Date", timestamp(transfer.get("created_at"))),
    ]
    renderer.details([(name, value) for name, value in pairs if value])


def show_history(renderer: Renderer, page: dict[str, Any], *, as_csv: bool) -> None:
    """Transfers newest first: table, CSV (raw and formatted amounts) or the API page."""
    transfers = page.get("items", [])
    if renderer.json_output:
        renderer.json(page)
        return
    if as_csv:
        renderer.csv(HISTORY_CSV_HEADER, [_history_csv_row(transfer) for transfer in transfers])
        return
    rows = [
        (
            timestamp(transfer.get("created_at")),
            transfer.get("kind", ""),
            transfer.get("direction") or "",
            format_amount(signed_amount_minor(transfer), transfer["currency"]),
            counterparty(transfer),
            transfer.get("memo") or "",
            transfer["id"],
        )
        for transfer in transfers
    ]
    renderer.table(
        ("date", "kind", "direction", "amount", "counterparty", "memo", "id"),
        rows,
        right_aligned=("amount",),
    )


def _history_csv_row(transfer: dict[str, Any]) -> tuple[str | int, ...]:
    amount_minor = signed_amount_minor(transfer)
    return (
        transfer.get("created_at", ""),
        transfer["id"],
        transfer.get("kind", ""),
        transfer.get("direction") or "",
        amount_minor,
        transfer["currency"],
        format_amount(amount_minor, transfer["currency"]),
        counterparty(transfer),
        transfer.get("memo") or "",
    )


def show_admin_users(renderer: Renderer, page: dict[str, Any]) -> None:
    if renderer.json_output:
        renderer.json(page)
        return
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


def show_audit(renderer: Renderer, report: dict[str, Any]) -> None:
    """The audit report; violations, if any, come first."""
    if renderer.json_output:
        renderer.json(report)
        return
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
    counts = report.get("counts", {})
    renderer.details([(name.replace("_", " "), str(count)) for name, count in counts.items()])


def show_audit_log(renderer: Renderer, page: dict[str, Any]) -> None:
    if renderer.json_output:
        renderer.json(page)
        return
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
