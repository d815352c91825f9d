"""The benchmark tool (bench/): its setup and one short round of each kind fill every row.

A test of the tool so that it cannot rot, not of speed: nothing here asserts a throughput or a
latency. It uses the Python load generator, so it needs no wrk; it needs pgbench, and fails
(never skips) with the tool's own message when pgbench or Postgres is missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from bench import run
from bench.scratch import POSTGRES_ADMIN_DSN

pytestmark = pytest.mark.e2e

ROWS = [
    "raw-1: raw SQL, 1 per commit, 8 clients",
    "raw-batch: raw SQL, 50 per commit set-based, 8 clients",
    "product: POST /v1/transfers, 2 connections (python)",
    "product: POST /v1/transfers, 3 connections (python)",
    "product at half its max, open loop (Python)",
    "daemon peak RSS",
]


def test_one_short_round_of_each_kind_reports_every_row_with_a_clean_ledger(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["--users", "4", "--rounds", "1", "--seconds", "2", "--connections", "2,3"]
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
    runs = [*round_["product"], round_["half-load"]]
    assert [r["label"] for r in runs] == ["c2", "c3", "half"]
    for product_run in runs:
        assert product_run["created"] > 0, product_run
        # The Python generator waits for every answer: the table matches the 201s exactly.
        assert product_run["transfers_in_table"] == product_run["created"], product_run
        assert product_run["refused"] == 0, product_run
        assert product_run["audit_ok"] is True, product_run
        assert product_run["server_cpu_s"] > 0, product_run
    assert report["summary"]["daemon_peak_rss_mib"] > 0
    assert set(report["summary"]["product"]) == {"c2", "c3"}
    with psycopg.connect(POSTGRES_ADMIN_DSN) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (report["database"],)
        ).fetchone()
    assert left == (0,), "the scratch database is dropped afterwards"
