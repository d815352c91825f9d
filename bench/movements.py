"""Movement legs: other kinds of money movement, measured the way the single transfer is.

Each leg runs in every round on the round's daemon, right after the single-transfer runs, at
the largest `--connections` value, with the same load generator and the same users, and is
reported next to the single-transfer run of the same round at the same connection count.
An operation is a short conversation of one client, posting one transfer in the end:

- `holds`: POST /v1/holds (1 cent to another user, expires_in one day, memo = the run's tag),
  then POST /v1/holds/{id}/capture `{}` (all of it, one full capture) by the same payer.
- `fx`: POST /v1/fx/quotes USD->EUR of a small sell amount (bench/loadgen.py `fx_sell_amount`:
  100 minor units plus the user's index in the tokens file, so that a quote's answer, which
  names no user, tells wrk whose it is), then
  POST /v1/fx/exchange {quote_id, memo = the run's tag} by the same user. Before the leg runs
  in a round, the operator sets the USD->EUR rate it quotes (`FX_RATE`, `FX_SPREAD`).

After each run, `problems` compares what the load generator counted with the run's rows
(found by its tag, and for quotes, which carry none, by the run's start), and the ledger audit's
figures with the ledger's, on top of the checks every product run gets (the ledger audit clean,
no request refused): bench/product.py calls it.

A leg is a `Movement` in `MOVEMENTS` plus its client side: a cycle in bench/loadgen.py
(`CYCLES`) and a wrk script in bench/scripts/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from bench.scratch import BenchError, Daemon, Scratch

if TYPE_CHECKING:
    from bench.product import LoadResult

Counts = dict[str, int]


@dataclass(frozen=True)
class Movement:
    name: str
    """The word of `--movements`, the leg's run label (`holds-c64`) and the loadgen's `--movement`."""
    title: str
    """What one operation is, for the table."""
    requests_per_operation: int
    wrk_script: str
    count: Callable[[Scratch, str, datetime], Counts]
    """The run's rows, by its tag and its start: what the checks compare with the generator's
    counts."""
    problems: Callable[[LoadResult, Counts, int, dict[str, Any]], list[str]]
    """What does not add up, given the run, its counts, the most requests that may have been in
    flight at the generator's cut-off (0 for the Python generator, which waits) and the
    ledger audit (GET /v1/admin/audit) taken after the run."""
    prepare: Callable[[Scratch, Daemon], None] | None = None
    """What the leg needs on each round's daemon before it runs (FX: the rate it quotes)."""


HOLD_COUNTS = """
    SELECT count(*),
           coalesce(sum(CASE WHEN status = 'captured' AND captured = amount AND released = 0
                        THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN status = 'open' AND captured = 0 AND released = 0
                        THEN 1 ELSE 0 END), 0)
    FROM holds WHERE memo = %s"""
RECORDS_201 = "SELECT count(*) FROM idempotency_keys WHERE key LIKE %s AND status_code = 201"


def count_holds(scratch: Scratch, tag: str, started_at: datetime) -> Counts:
    row = scratch.fetch_one(HOLD_COUNTS, (tag,))
    assert row is not None
    placed, captured, still_open = (int(value) for value in row)
    return {
        "placed": placed,
        "captured": captured,
        "open": still_open,
        "records_201": scratch.scalar(RECORDS_201, (f"{tag}-%",)),
    }


def hold_problems(run: LoadResult, counts: Counts, in_flight: int, report: dict[str, Any]) -> list[str]:
    """Every hold of the run fully captured (or, after wrk's cut-off, still open untouched),
    one transfer per capture, one 201 record per placement and per capture, and the
    generator's counts matching the table."""
    problems = []
    placed, captured, still_open = counts["placed"], counts["captured"], counts["open"]
    if placed != captured + still_open:
        problems.append(f"{placed - captured - still_open} of {placed} holds are neither captured nor open")
    if still_open > in_flight:
        problems.append(f"{still_open} holds left open (at most {in_flight} may be cut off by the generator)")
    if run.transfers_in_table != captured:
        problems.append(f"{captured} holds captured but {run.transfers_in_table} transfers committed")
    if counts["records_201"] != placed + captured:
        problems.append(
            f"{placed} holds placed and {captured} captured but {counts['records_201']} records answer 201"
        )
    problems += _uncounted_problems(run, (placed, captured), ("placed", "captured"), in_flight)
    return problems


def _uncounted_problems(
    run: LoadResult, in_table: tuple[int, int], words: tuple[str, str], in_flight: int
) -> list[str]:
    """The generator's counts of first requests (`started`) and of operations done (`created`)
    against the table's: never more, and together at most `in_flight` fewer."""
    (first, done), (first_word, done_word) = in_table, words
    uncounted_done, uncounted_first = done - run.created, first - run.started
    if min(uncounted_done, uncounted_first) < 0 or uncounted_done + uncounted_first > in_flight:
        return [
            f"the generator counted {run.started} {first_word} and {run.created} {done_word}, the "
            f"table holds {first} and {done} (at most {in_flight} may still have been in flight)"
        ]
    return []


HOLDS = Movement(
    name="holds",
    title="holds and captures: POST /v1/holds, then POST /v1/holds/{id}/capture of all of it",
    requests_per_operation=2,
    wrk_script="holds.lua",
    count=count_holds,
    problems=hold_problems,
)

FX_SELL, FX_BUY = "USD", "EUR"
FX_RATE, FX_SPREAD = "0.9213", "0.5%"
"""The rate the operator sets before each FX run: 1 USD buys 0.9213 EUR, 0.5 % to the house."""


def set_fx_rate(scratch: Scratch, daemon: Daemon) -> None:
    """The operator sets the USD->EUR rate the FX leg quotes (POST /v1/admin/fx/rates)."""
    body = {"sell": FX_SELL, "buy": FX_BUY, "rate": FX_RATE, "spread": FX_SPREAD, "reason": "bench fx leg"}
    headers = {"Authorization": f"Bearer {scratch.admin_token}"}
    answer = httpx.post(f"{daemon.base_url}/v1/admin/fx/rates", json=body, headers=headers, timeout=60)
    if answer.status_code != 200:
        raise BenchError(
            f"setting the {FX_SELL}->{FX_BUY} rate: HTTP {answer.status_code} {answer.text[:300]}"
        )


RUN_QUOTES = """
    SELECT count(*), coalesce(sum(CASE WHEN used_at IS NOT NULL THEN 1 ELSE 0 END), 0)
    FROM fx_quotes WHERE created_at >= %s"""
"""Quotes asked for during the run (only the FX leg asks for any), and those used."""
RUN_EXCHANGES = """
    SELECT count(*),
           coalesce(sum(CASE WHEN q.transfer_id = t.id AND q.created_at >= %s AND q.user_id = w.owner_id
                             AND t.amount = q.sell_amount AND t.currency = q.sell_currency
                        THEN 1 ELSE 0 END), 0)
    FROM transfers t
    JOIN wallets w ON w.id = t.from_wallet_id
    LEFT JOIN fx_quotes q ON q.id = t.quote_id
    WHERE t.memo = %s AND t.kind = 'exchange'"""
"""The run's exchanges (memo = its tag), and those that consumed a quote of the run, made for
their payer, at the quote's sell amount and currency."""
EXECUTIONS = """
    SELECT count(*), count(DISTINCT t.quote_id) FROM transfers t
    JOIN fx_quotes q ON q.id = t.quote_id WHERE q.created_at >= %s"""
"""Transfers of any kind that executed a quote of the run, and how many quotes they executed."""
FX_TOTALS = """
    SELECT coalesce(sum(sell_amount - fee), 0), coalesce(sum(fee), 0), coalesce(sum(buy_amount), 0)
    FROM fx_quotes WHERE used_at IS NOT NULL AND sell_currency = %s AND buy_currency = %s"""
"""Every executed quote of the world so far: what the house and the revenue wallet must hold."""


def count_fx(scratch: Scratch, tag: str, started_at: datetime) -> Counts:
    quotes = scratch.fetch_one(RUN_QUOTES, (started_at,))
    exchanges = scratch.fetch_one(RUN_EXCHANGES, (started_at, tag))
    executions = scratch.fetch_one(EXECUTIONS, (started_at,))
    totals = scratch.fetch_one(FX_TOTALS, (FX_SELL, FX_BUY))
    assert quotes is not None and exchanges is not None and executions is not None and totals is not None
    # Sums of BIGINT come back from Postgres as numeric (Decimal); all are whole numbers.
    exchanged, fees, bought = (int(value) for value in totals)
    return {
        "quoted": int(quotes[0]),
        "used": int(quotes[1]),
        "exchanges": int(exchanges[0]),
        "exchanges_on_own_quote": int(exchanges[1]),
        "executions": int(executions[0]),
        "quotes_executed": int(executions[1]),
        "records_201": scratch.scalar(RECORDS_201, (f"{tag}-%",)),
        "house_sell_expected": exchanged,
        "revenue_sell_expected": fees,
        "house_buy_expected": -bought,
    }


def fx_position_problems(counts: Counts, report: dict[str, Any]) -> list[str]:
    """The audit's FX positions against every executed quote: the house holds the exchanged
    parts in USD and owes the bought amounts in EUR; the revenue wallet holds the fees."""
    positions = {row["currency"]: row for row in report.get("fx_positions", [])}
    blank = {"house": 0, "revenue": 0}
    sold, bought = positions.get(FX_SELL, blank), positions.get(FX_BUY, blank)
    expected = {
        f"house {FX_SELL}": counts["house_sell_expected"],
        f"revenue {FX_SELL}": counts["revenue_sell_expected"],
        f"house {FX_BUY}": counts["house_buy_expected"],
        f"revenue {FX_BUY}": 0,
    }
    reported = {
        f"house {FX_SELL}": sold["house"],
        f"revenue {FX_SELL}": sold["revenue"],
        f"house {FX_BUY}": bought["house"],
        f"revenue {FX_BUY}": bought["revenue"],
    }
    return [
        f"the audit's FX position {name} is {reported[name]}, the executed quotes make it {value}"
        for name, value in expected.items()
        if reported[name] != value
    ]


def fx_problems(run: LoadResult, counts: Counts, in_flight: int, report: dict[str, Any]) -> list[str]:
    """Every quote of the run executed at most once, by one exchange of the run on its own
    quote; the exchanges equal the quotes used, the transfers committed and the 201 records;
    quotes left unused only at wrk's cut-off; the generator's counts matching the table; and
    the audit's FX positions what every executed quote makes them."""
    problems = []
    quoted, used, exchanges = counts["quoted"], counts["used"], counts["exchanges"]
    if counts["executions"] != counts["quotes_executed"]:
        problems.append(
            f"{counts['executions']} transfers executed {counts['quotes_executed']} quotes of the run"
        )
    if used != exchanges or counts["executions"] != exchanges:
        problems.append(
            f"{used} quotes used and {counts['executions']} executions but {exchanges} exchange transfers"
        )
    if counts["exchanges_on_own_quote"] != exchanges:
        problems.append(
            f"{exchanges - counts['exchanges_on_own_quote']} of {exchanges} exchanges did not execute a "
            "quote of the run made for their payer at its amount"
        )
    if quoted - used > in_flight:
        problems.append(f"{quoted - used} quotes left unused (at most {in_flight} may be cut off)")
    if run.transfers_in_table != exchanges:
        problems.append(f"{exchanges} exchanges but {run.transfers_in_table} transfers committed")
    if counts["records_201"] != exchanges:
        problems.append(f"{exchanges} exchanges but {counts['records_201']} records answer 201")
    problems += _uncounted_problems(run, (quoted, exchanges), ("quotes", "exchanges"), in_flight)
    return problems + fx_position_problems(counts, report)


FX = Movement(
    name="fx",
    title="FX executions: POST /v1/fx/quotes USD->EUR, then POST /v1/fx/exchange of that quote",
    requests_per_operation=2,
    wrk_script="fx.lua",
    count=count_fx,
    problems=fx_problems,
    prepare=set_fx_rate,
)

MOVEMENTS = {movement.name: movement for movement in (HOLDS, FX)}
"""Every movement leg, in the order a round runs them."""
