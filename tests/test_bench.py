"""The benchmark tool (bench/): its setup and one short round of each kind fill every row.

A test of the tool so that it cannot rot, not of speed: nothing here asserts a throughput or a
latency. It uses the Python load generator, so it needs no wrk; it needs pgbench, and fails
(never skips) with the tool's own message when pgbench or Postgres is missing. Every leg runs
once, tiny: raw-1, raw-batch, single transfers, half load, holds and captures (every hold
placed is captured, one transfer each), FX executions (every quote executed once, one exchange
each, the audit's FX positions what the quotes make them), the hot wallet (with all transfers
to the hot user, so its count is exact), the bulk API, and the embedded SQLite daemon next to
the raw sqlite3 script; then money conservation is checked in SQL on all three databases.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench import loadgen, run
from bench.movements import FX, HOLDS
from bench.product import LoadResult
from bench.scratch import POSTGRES_ADMIN_DSN

pytestmark = pytest.mark.e2e

ROWS = [
    "raw-1: raw SQL, 1 per commit, 8 clients",
    "raw-batch: raw SQL, 50 per commit set-based, 8 clients",
    "product: POST /v1/transfers, 2 connections (python)",
    "product: POST /v1/transfers, 3 connections (python)",
    "product at half its max, open loop (Python)",
    "holds and captures: POST /v1/holds, then POST /v1/holds/{id}/capture of all of it, "
    "3 connections (python); operations/s",
    "FX executions: POST /v1/fx/quotes USD->EUR, then POST /v1/fx/exchange of that quote, "
    "3 connections (python); operations/s",
    "hot wallet: POST /v1/transfers, 100% to one wallet, 3 connections (python)",
    "bulk: POST /v1/transfers/batch, 50 items, 2 clients (python)",
    "raw sqlite3: 1 per commit, one process, the daemon's PRAGMAs",
    "SQLite embedded: POST /v1/transfers, 2 connections (python)",
    "daemon peak RSS",
    "single-transfer API / raw-1, 2 connections",
    "single-transfer API / raw-1, 3 connections",
    "bulk API / raw-batch",
    "hot wallet / uniform, 3 connections",
    "p99 at half load / raw-1 mean latency",
    "SQLite embedded API / raw sqlite3",
    "load generator CPU / server CPU (worst closed loop)",
]


def test_one_short_round_of_each_kind_reports_every_row_with_a_clean_ledger(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["--users", "4", "--rounds", "1", "--seconds", "1", "--connections", "2,3"]
    args += ["--hot-share", "1", "--bulk-clients", "2", "--sqlite-connections", "2"]
    args += ["--load", "python", "--workdir", str(tmp_path / "work"), "--json", str(out)]

    report = run.main(args)

    assert json.loads(out.read_text())["summary"] == json.loads(json.dumps(report["summary"]))
    for row in ROWS:
        assert f"| {row} |" in report["table"], row
    [round_] = report["rounds"]
    for kind in ("raw-1", "raw-batch"):
        assert round_[kind]["transactions"] > 0, kind
        assert round_[kind]["failed"] == 0, kind
        assert round_[kind]["transfers_per_s"] > 0, kind
    assert round_["raw-batch"]["batch"] == 50
    holds, fx = round_["movements"]["holds"], round_["movements"]["fx"]
    runs = [
        *round_["product"],
        round_["half-load"],
        holds,
        fx,
        round_["hot"],
        round_["bulk"],
        round_["sqlite"]["api"],
    ]
    labels = ["c2", "c3", "half", "holds-c3", "fx-c3", "hot-c3", "bulk", "sqlite-c2"]
    assert [r["label"] for r in runs] == labels
    for product_run in runs:
        assert product_run["created"] > 0, product_run
        # The Python generator waits for every answer: the table matches the 201s exactly.
        assert product_run["transfers_in_table"] == product_run["created"], product_run
        assert product_run["refused"] == 0, product_run
        assert product_run["audit_ok"] is True, product_run
        assert product_run["server_cpu_s"] > 0, product_run
        assert product_run["daemon_rss_kib"] > 0, product_run
        assert product_run["missing"] is False, product_run
    # Every hold placed was captured, in full, each capture one transfer of the run.
    assert holds["movement_counts"] == {
        "placed": holds["created"],
        "captured": holds["created"],
        "open": 0,
        "records_201": 2 * holds["created"],
    }
    assert holds["started"] == holds["created"] and holds["requests"] == 2 * holds["created"]
    # Every quote was executed once, by one exchange of the run, and none was left unused.
    fx_counts = fx["movement_counts"]
    done = fx["created"]
    assert [fx_counts[name] for name in ("quoted", "used", "exchanges", "executions")] == [done] * 4
    assert fx_counts["quotes_executed"] == fx_counts["exchanges_on_own_quote"] == done
    assert fx_counts["records_201"] == done and fx["started"] == done and fx["requests"] == 2 * done
    # Users 0-3 sell 100-103 USD cents a quote: a 1-cent fee, 99-102 exchanged, 91-93 EUR cents.
    assert fx_counts["revenue_sell_expected"] == done
    assert 99 * done <= fx_counts["house_sell_expected"] <= 102 * done
    assert -93 * done <= fx_counts["house_buy_expected"] <= -91 * done
    for name in ("holds", "fx"):
        leg = report["summary"]["movements"][name]
        single = report["summary"]["product"]["c3"]
        assert leg["single_median"] == single["median"], name
        assert leg["vs_single"] == pytest.approx(leg["median"] / single["median"]), name
    # Every transfer of the hot leg credited the hot user (--hot-share 1).
    assert round_["hot"]["hot_received"] == round_["hot"]["transfers_in_table"]
    bulk = round_["bulk"]
    assert bulk["bulk"] == 50
    assert bulk["created"] == 50 * bulk["requests"], "every item of every batch moved"
    raw_sqlite = round_["sqlite"]["raw"]
    assert raw_sqlite["transactions"] > 0
    assert raw_sqlite["pragmas"]["journal_mode"] == "wal"
    assert raw_sqlite["pragmas"]["foreign_keys"] == 1
    summary = report["summary"]
    assert summary["transfer_batch_max"] == {"postgres": "64", "sqlite": "64"}
    checked = {c["database"]: c for c in summary["conservation"]}
    assert set(checked) == {"postgres", "sqlite (API)", "sqlite (raw)"}
    assert all(c["ok"] and c["transfers"] > 0 for c in checked.values()), checked
    # The raw script's rows are in its own copy, the daemon's in the embedded file.
    assert checked["sqlite (raw)"]["transfers"] > raw_sqlite["transactions"] - 1
    assert set(summary["peak_rss_mib_after"]) == set(labels)
    assert all(row["met"] is not None for row in summary["targets"]), summary["targets"]
    assert report["summary"]["daemon_peak_rss_mib"] > 0
    assert set(report["summary"]["product"]) == {"c2", "c3"}
    with psycopg.connect(POSTGRES_ADMIN_DSN) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (report["database"],)
        ).fetchone()
    assert left == (0,), "the scratch database is dropped afterwards"


def test_a_daemon_without_the_bulk_endpoint_counts_as_missing_not_as_refusals() -> None:
    tally = loadgen.Tally(bulk=True)
    tally.record(405, 0.0)
    tally.record(404, 0.0)

    summary = tally.summary(1.0)

    assert (summary["missing"], summary["created"], summary["client_errors"]) == (2, 0, 0)


def test_a_bulk_answer_counts_its_items_and_a_refused_item_as_an_error() -> None:
    tally = loadgen.Tally(bulk=True)
    tally.record(200, 0.0)
    tally.item_statuses = {201: 49, 422: 1}

    summary = tally.summary(1.0)

    assert (summary["responses"], summary["created"], summary["client_errors"], summary["other"]) == (
        1,
        49,
        1,
        0,
    )


def test_the_holds_leg_reports_a_hold_left_open_and_a_capture_without_its_transfer() -> None:
    required = {f.name: 0 for f in dataclasses.fields(LoadResult) if f.default is dataclasses.MISSING}
    blank: dict[str, Any] = required | {"label": "holds-c2", "generator": "python", "target_rate": None}
    run_ = dataclasses.replace(LoadResult(**blank), created=3, started=4, transfers_in_table=2)
    counts = {"placed": 4, "captured": 3, "open": 1, "records_201": 7}

    problems = HOLDS.problems(run_, counts, 0, {"ok": True})

    assert problems == [
        "1 holds left open (at most 0 may be cut off by the generator)",
        "3 holds captured but 2 transfers committed",
    ]


def test_the_fx_leg_reports_a_quote_executed_twice_and_an_audit_position_off_by_a_cent() -> None:
    required = {f.name: 0 for f in dataclasses.fields(LoadResult) if f.default is dataclasses.MISSING}
    blank: dict[str, Any] = required | {"label": "fx-c2", "generator": "python", "target_rate": None}
    run_ = dataclasses.replace(LoadResult(**blank), created=3, started=3, transfers_in_table=3)
    counts = {"quoted": 3, "used": 3, "exchanges": 3, "exchanges_on_own_quote": 3, "executions": 3}
    counts |= {"quotes_executed": 2, "records_201": 3}
    counts |= {"house_sell_expected": 297, "revenue_sell_expected": 3, "house_buy_expected": -273}
    positions = [
        {"currency": "USD", "house": 297, "revenue": 3},
        {"currency": "EUR", "house": -272, "revenue": 0},
    ]

    problems = FX.problems(run_, counts, 0, {"ok": True, "fx_positions": positions})

    assert problems == [
        "3 transfers executed 2 quotes of the run",
        "the audit's FX position house EUR is -272, the executed quotes make it -273",
    ]
