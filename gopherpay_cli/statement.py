"""A monthly statement: the month's local days, and how a statement looks on screen.

The daemon answers `GET /v1/statement` for any period; the CLI asks for one calendar
month in the user's time zone (UTC with --utc) and shows it in major units.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from gopherpay_cli.errors import UsageError
from gopherpay_cli.money import format_amount
from gopherpay_cli.render import Renderer
from gopherpay_cli.views import counterparty, day_start, local_moment, minute_dates, offset_text, view

MONTH = re.compile(r"(\d{4})-(\d{2})")
STATEMENT_CSV_HEADER = (
    "date",
    "transfer_id",
    "kind",
    "counterparty",
    "memo",
    "amount_minor",
    "currency",
    "amount",
    "balance_minor",
    "balance",
)


def month_bounds(text: str) -> tuple[str, str, date]:
    """`2026-11` → the RFC 3339 first moment of that month and of the next, in the zone
    times are shown in, and the month's first day."""
    matched = MONTH.fullmatch(text.strip())
    if matched is None or not 1 <= int(matched[2]) <= 12 or int(matched[1]) < 1:
        raise UsageError(f"MONTH is written like 2026-11, got {text!r}")
    year, month = int(matched[1]), int(matched[2])
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return day_start(first).isoformat(), day_start(following).isoformat(), first


@view
def show_statement(renderer: Renderer, sheet: dict[str, Any], *, month: date, as_csv: bool) -> None:
    """The statement: balances and totals around a table of the month's movements."""
    code = sheet["currency"]

    def money(minor: int) -> str:
        return format_amount(minor, code)

    if as_csv:
        renderer.csv(STATEMENT_CSV_HEADER, _csv_rows(sheet))
        return
    renderer.details(
        [
            ("Statement", f"{month:%B %Y}, {code}"),
            ("Period", period_text(sheet["since"], sheet["until"])),
            ("Opening balance", money(sheet["opening_balance"])),
        ]
    )
    lines = sheet.get("lines", [])
    if lines:
        date_header, dates = minute_dates([line["transfer"].get("created_at") for line in lines])
        renderer.table(
            (date_header, "counterparty", "memo", "amount", "balance"),
            [
                (
                    date,
                    counterparty(line["transfer"]),
                    str(line["transfer"].get("memo") or ""),
                    money(line["amount"]),
                    money(line["balance_after"]),
                )
                for line, date in zip(lines, dates, strict=True)
            ],
            right_aligned=("amount", "balance"),
            truncated=("counterparty", "memo"),
        )
    else:
        renderer.info("No movements in this period.")
    renderer.details(
        [
            ("Money in", money(sheet["total_in"])),
            ("Money out", money(-sheet["total_out"]) if sheet["total_out"] else money(0)),
            ("Closing balance", money(sheet["closing_balance"])),
        ]
    )


def period_text(since: str, until: str) -> str:
    """`2026-11-01 to 2026-11-30 (+01:00)`: the first and last day, both included."""
    start, end = local_moment(datetime.fromisoformat(since)), local_moment(datetime.fromisoformat(until))
    last_day = (end - timedelta(microseconds=1)).date()
    offsets = sorted({offset_text(start), offset_text(end)})
    return f"{start.date()} to {last_day} ({', '.join(offsets)})"


def _csv_rows(sheet: dict[str, Any]) -> list[tuple[str | int, ...]]:
    """The movements between an opening and a closing balance row, amounts signed."""
    code = sheet["currency"]
    opening, closing = sheet["opening_balance"], sheet["closing_balance"]
    rows: list[tuple[str | int, ...]] = [
        (sheet["since"], "", "opening_balance", "", "", "", code, "", opening, format_amount(opening, code))
    ]
    for line in sheet.get("lines", []):
        transfer = line["transfer"]
        rows.append(
            (
                transfer.get("created_at", ""),
                transfer["id"],
                transfer.get("kind", ""),
                counterparty(transfer),
                transfer.get("memo") or "",
                line["amount"],
                code,
                format_amount(line["amount"], code),
                line["balance_after"],
                format_amount(line["balance_after"], code),
            )
        )
    rows.append(
        (sheet["until"], "", "closing_balance", "", "", "", code, "", closing, format_amount(closing, code))
    )
    return rows
