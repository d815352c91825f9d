"""Movement legs: other kinds of money movement, measured the way the single transfer is.

Each leg runs in every round on the round's daemon, right after the single-transfer runs, at
the largest `--connections` value, with the same load generator and the same users, and is
reported next to the single-transfer run of the same round at the same connection count.
An operation is a short conversation of one client, posting one transfer in the end:

- `holds`: POST /v1/holds (1 cent to another user, expires_in one day, memo = the run's tag),
  then POST /v1/holds/{id}/capture `{}` (all of it, one full capture) by the same payer.

After each run, `problems` compares what the load generator counted with the run's rows
(found by its tag), on top of the checks every product run gets (the ledger audit clean, no
request refused): bench/product.py calls it.

A leg is a `Movement` in `MOVEMENTS` plus its client side: a cycle in bench/loadgen.py
(`CYCLES`) and a wrk script in bench/scripts/. FX (POST /v1/fx/quotes, then
POST /v1/fx/exchange {quote_id}) fits the same shape once its endpoint exists: its counts
are quotes consumed and exchange transfers of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.scratch import Scratch

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
    count: Callable[[Scratch, str], Counts]
    """The run's rows, by its tag: what the checks compare with the generator's counts."""
    problems: Callable[[LoadResult, Counts, int], list[str]]
    """What does not add up, given the run, its counts and the most requests that may have
    been in flight at the generator's cut-off (0 for the Python generator, which waits)."""


HOLD_COUNTS = """
    SELECT count(*),
           coalesce(sum(CASE WHEN status = 'captured' AND captured = amount AND released = 0
                        THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN status = 'open' AND captured = 0 AND released = 0
                        THEN 1 ELSE 0 END), 0)
    FROM holds WHERE memo = %s"""
RECORDS_201 = "SELECT count(*) FROM idempotency_keys WHERE key LIKE %s AND status_code = 201"


def count_holds(scratch: Scratch, tag: str) -> Counts:
    row = scratch.fetch_one(HOLD_COUNTS, (tag,))
    assert row is not None
    placed, captured, still_open = (int(value) for value in row)
    return {
        "placed": placed,
        "captured": captured,
        "open": still_open,
        "records_201": scratch.scalar(RECORDS_201, (f"{tag}-%",)),
    }


def hold_problems(run: LoadResult, counts: Counts, in_flight: int) -> list[str]:
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
    uncounted_captures, uncounted_holds = captured - run.created, placed - run.started
    if min(uncounted_captures, uncounted_holds) < 0 or uncounted_captures + uncounted_holds > in_flight:
        problems.append(
            f"the generator counted {run.started} placed and {run.created} captured, the table holds "
            f"{placed} and {captured} (at most {in_flight} may still have been in flight)"
        )
    return problems


HOLDS = Movement(
    name="holds",
    title="holds and captures: POST /v1/holds, then POST /v1/holds/{id}/capture of all of it",
    requests_per_operation=2,
    wrk_script="holds.lua",
    count=count_holds,
    problems=hold_problems,
)

MOVEMENTS = {movement.name: movement for movement in (HOLDS,)}
"""Every movement leg, in the order a round runs them."""
