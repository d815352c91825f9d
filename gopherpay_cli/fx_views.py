"""How exchange rates, quotes and the indicative total look on screen (see views.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gopherpay_cli.money import format_amount
from gopherpay_cli.render import Renderer
from gopherpay_cli.views import duration, timestamp, view, yes_no


def spread_text(spread: str) -> str:
    """The API's spread fraction as a percentage: `0.005` -> `0.5%`."""
    from gopherpayd.fx.rounding import percent_text

    return percent_text(Decimal(spread))


@view
def show_rates(renderer: Renderer, rates: dict[str, Any], *, operator: bool = False) -> None:
    """The rates (GET /v1/fx/rates, or the operators' GET /v1/admin/fx/rates)."""
    items = rates.get("items", [])
    if not items:
        hint = "Set one with: gopherpay admin rates set USD EUR 0.9213 --spread 0.5%"
        renderer.info("No exchange rates are set." + (f" {hint}" if operator else ""))
        return
    columns = ("sell", "buy", "rate", "spread", "valid until", "source")
    rows = [
        (
            rate["sell"],
            rate["buy"],
            rate["rate"],
            spread_text(rate["spread"]),
            timestamp(rate.get("valid_until")) or "until replaced",
            rate.get("source", ""),
            *((yes_no(rate.get("valid")),) if operator else ()),
        )
        for rate in items
    ]
    renderer.table((*columns, "valid") if operator else columns, rows, right_aligned=("rate", "spread"))
    if not operator:
        renderer.info("Indicative rates: only a quote (gopherpay fx quote) locks one.")


def quote_details(quote: dict[str, Any]) -> list[tuple[str, str]]:
    """A quote's fields as `fx quote` prints them and `exchange` / `transfer --receive` ask."""
    sell, buy = quote["sell"], quote["buy"]
    return [
        ("Quote", quote["quote_id"]),
        ("You pay", format_amount(quote["sell_amount"], sell)),
        ("Fee (in that)", format_amount(quote["fee"], sell)),
        ("Received", format_amount(quote["buy_amount"], buy)),
        ("Rate", f"1 {sell} = {quote['rate']} {buy}, spread {spread_text(quote['spread'])}"),
        ("Expires", timestamp(quote["expires_at"])),
    ]


def locked_for(quote: dict[str, Any]) -> str:
    """How long the daemon locked the quote (`30 s`), by its own clock: created to expiry."""
    from datetime import datetime

    created = datetime.fromisoformat(str(quote["created_at"]))
    expires = datetime.fromisoformat(str(quote["expires_at"]))
    return duration(max(0, round((expires - created).total_seconds())))


@view
def show_quote(renderer: Renderer, quote: dict[str, Any]) -> None:
    renderer.details(quote_details(quote))


@view
def show_indicative_total(renderer: Renderer, total: dict[str, Any]) -> None:
    """`balance --in CURRENCY`: each wallet's available balance at the current mid rate, and
    their total (money held for someone is not yours to exchange, so it is left out)."""
    target = total["currency"]
    rows = [
        (
            line["currency"],
            format_amount(line["available"], line["currency"]),
            line["rate"] or ("" if line["currency"] == target else "-"),
            format_amount(line["value"], target) if line["value"] is not None else "not converted",
        )
        for line in total["wallets"]
    ]
    renderer.table(
        ("currency", "available", "rate", f"in {target}"), rows, right_aligned=("available", "rate")
    )
    renderer.details([("Total available (indicative)", format_amount(total["total"], target))])
    renderer.info(
        f"Indicative: the available balances (balance - held) at the current mid rates to {target}, "
        "before any spread; only a quote locks a rate."
    )
    if total["not_converted"]:
        missing = ", ".join(total["not_converted"])
        renderer.info(f"Not converted (no rate to {target}): {missing}; they are not in the total.")
