"""Benchmark: the product's transfers per second against the raw-SQL limit of the same database.

Run from the repository root: `.venv/bin/python -m bench.run` (or `python bench/run.py`).
bench/README.md says what it measures and how to read it. A dev tool, run by hand: no test
asserts speed, and CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pipeline, product, rawsql, scratch  # noqa: E402
from bench.product import LoadResult  # noqa: E402


@dataclass
class Options:
    users: int = 200
    rounds: int = 5
    seconds: float = 10.0
    connections: list[int] = field(default_factory=lambda: [8, 16, 64])
    raw_clients: int = 8
    batch: int = 50
    load: str = "wrk"
    keep_db: bool = False
    json_path: Path | None = None
    workdir: Path | None = None
    quick: bool = False
    pipeline: bool = False


@dataclass
class Round:
    number: int
    raw_one: rawsql.RawResult
    raw_batch: rawsql.RawResult
    product: list[LoadResult]
    half: LoadResult | None
    peak_rss_kib: int

    @property
    def product_max(self) -> float:
        return max(run.transfers_per_s for run in self.product)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Transfers/s of POST /v1/transfers against raw SQL writing the same rows, "
        "interleaved in rounds on a scratch Postgres database.",
    )
    parser.add_argument("--users", type=int, default=200, help="funded users (default 200)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of [raw-1, raw-batch, product] (5)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per measurement (10)")
    parser.add_argument(
        "--connections", default="8,16,64", help="HTTP connections of the product runs (8,16,64)"
    )
    parser.add_argument("--raw-clients", type=int, default=8, help="pgbench clients (8)")
    parser.add_argument("--batch", type=int, default=50, help="transfers per commit in raw-batch (50)")
    parser.add_argument(
        "--load", choices=["wrk", "python"], default="wrk", help="load generator for the product (wrk)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write every figure to this file")
    parser.add_argument("--workdir", type=Path, help="where logs and the tokens file go (a temp dir)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run of about a minute: 1 round, 2 s each, 20 users"
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="then the event pipeline at half the max (Kafka, relay, worker, Novu; bench/pipeline.py)",
    )
    args = parser.parse_args(argv)
    options = Options(
        users=args.users,
        rounds=args.rounds,
        seconds=args.seconds,
        connections=[int(c) for c in args.connections.split(",") if c.strip()],
        raw_clients=args.raw_clients,
        batch=args.batch,
        load=args.load,
        keep_db=args.keep_db,
        json_path=args.json_path,
        workdir=args.workdir,
        quick=args.quick,
        pipeline=args.pipeline,
    )
    if args.quick:
        options.rounds, options.seconds, options.users = 1, 2.0, 20
    if options.users < 2 or options.rounds < 1 or options.seconds <= 0 or not options.connections:
        parser.error("need at least 2 users, 1 round, a positive --seconds and one connection count")
    if options.batch < 2:
        parser.error("--batch must be at least 2 (raw-1 is the batch of one)")
    return options


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def run_round(world: scratch.Scratch, options: Options, number: int) -> Round:
    say(f"round {number}: raw-1 ({options.raw_clients} clients)")
    raw_one = rawsql.run_pgbench(world, batch=1, clients=options.raw_clients, seconds=options.seconds)
    say(f"  {raw_one.transfers_per_s:,.0f} transfers/s")
    say(f"round {number}: raw-batch ({options.batch} per commit, {options.raw_clients} clients)")
    raw_batch = rawsql.run_pgbench(
        world, batch=options.batch, clients=options.raw_clients, seconds=options.seconds
    )
    say(f"  {raw_batch.transfers_per_s:,.0f} transfers/s")
    rawsql.mark_raw_events_published(world)
    daemon = scratch.Daemon(world, f"serve-round-{number}.log")
    try:
        scratch.refresh_tokens(world, daemon)
        runs = []
        for connections in options.connections:
            say(f"round {number}: product, {connections} connections ({options.load})")
            run = product.measure(
                world,
                daemon,
                label=f"c{connections}",
                generator=options.load,
                connections=connections,
                seconds=options.seconds,
            )
            say(f"  {run.transfers_per_s:,.1f} transfers/s, p50 {run.p50_ms:.0f} ms, p99 {run.p99_ms:.0f} ms")
            runs.append(run)
        rate = max(run.transfers_per_s for run in runs) / 2
        half = None
        if rate >= 0.5:
            say(f"round {number}: product, open loop at {rate:.1f}/s (half its max)")
            half = product.measure(
                world,
                daemon,
                label="half",
                generator="python",
                connections=0,
                seconds=options.seconds,
                rate=rate,
            )
            say(f"  p50 {half.p50_ms:.0f} ms, p99 {half.p99_ms:.0f} ms")
        peak = daemon.peak_rss_kib()
    finally:
        daemon.stop()
    return Round(number, raw_one, raw_batch, runs, half, peak)


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(rounds: list[Round], options: Options) -> dict[str, Any]:
    raw_one = _stats([r.raw_one.transfers_per_s for r in rounds])
    raw_batch = _stats([r.raw_batch.transfers_per_s for r in rounds])
    summary: dict[str, Any] = {
        "raw-1": raw_one | {"latency_ms": statistics.median(r.raw_one.latency_ms for r in rounds)},
        "raw-batch": raw_batch | {"latency_ms": statistics.median(r.raw_batch.latency_ms for r in rounds)},
        "product": {},
    }
    for index, connections in enumerate(options.connections):
        runs = [r.product[index] for r in rounds]
        rate = _stats([run.transfers_per_s for run in runs])
        summary["product"][f"c{connections}"] = rate | {
            "p50_ms": statistics.median(run.p50_ms for run in runs),
            "p99_ms": statistics.median(run.p99_ms for run in runs),
            "vs_raw_1": rate["median"] / raw_one["median"],
            "vs_raw_batch": rate["median"] / raw_batch["median"],
            "loadgen_cpu_share": statistics.median(run.loadgen_cpu_share for run in runs),
            "server_cpu_ms_per_transfer": statistics.median(
                1000 * run.server_cpu_s / run.transfers_in_table for run in runs if run.transfers_in_table
            )
            if any(run.transfers_in_table for run in runs)
            else 0.0,
        }
    halves = [r.half for r in rounds if r.half is not None]
    if halves:
        p99 = statistics.median(h.p99_ms for h in halves)
        summary["half-load"] = {
            "rate": statistics.median(h.target_rate or 0.0 for h in halves),
            "achieved": statistics.median(h.transfers_per_s for h in halves),
            "p50_ms": statistics.median(h.p50_ms for h in halves),
            "p99_ms": p99,
            "p99_vs_raw_1_mean_latency": p99 / summary["raw-1"]["latency_ms"],
        }
    summary["daemon_peak_rss_mib"] = max(r.peak_rss_kib for r in rounds) / 1024
    return summary


def _row(name: str, stats: dict[str, float], extra: str = "") -> str:
    spread = f"{stats['min']:,.1f}-{stats['max']:,.1f}"
    return f"| {name} | {stats['median']:,.1f} | {spread} | {extra} |"


def table(summary: dict[str, Any], options: Options) -> str:
    raw_one, raw_batch = summary["raw-1"], summary["raw-batch"]
    lines = [
        "| measurement | transfers/s (median) | min-max | notes |",
        "| --- | --- | --- | --- |",
        _row(
            f"raw-1: raw SQL, 1 per commit, {options.raw_clients} clients",
            raw_one,
            f"mean latency {raw_one['latency_ms']:.2f} ms per commit",
        ),
        _row(
            f"raw-batch: raw SQL, {options.batch} per commit set-based, {options.raw_clients} clients",
            raw_batch,
            f"mean latency {raw_batch['latency_ms']:.1f} ms per commit",
        ),
    ]
    for label, stats in summary["product"].items():
        notes = (
            f"p50 {stats['p50_ms']:,.0f} ms, p99 {stats['p99_ms']:,.0f} ms; "
            f"{stats['vs_raw_1']:.3f}x raw-1, {stats['vs_raw_batch']:.3f}x raw-batch; "
            f"server CPU {stats['server_cpu_ms_per_transfer']:.1f} ms/transfer; "
            f"load generator CPU {100 * stats['loadgen_cpu_share']:.1f}% of the server's"
        )
        lines.append(
            _row(f"product: POST /v1/transfers, {label[1:]} connections ({options.load})", stats, notes)
        )
    half = summary.get("half-load")
    if half:
        lines.append(
            f"| product at half its max, open loop (Python) | {half['achieved']:,.1f} | "
            f"target {half['rate']:,.1f}/s | p50 {half['p50_ms']:,.0f} ms, p99 {half['p99_ms']:,.0f} ms = "
            f"{half['p99_vs_raw_1_mean_latency']:,.0f}x raw-1 mean latency |"
        )
    lines.append(f"| daemon peak RSS | {summary['daemon_peak_rss_mib']:,.0f} MiB | | max over rounds |")
    return "\n".join(lines)


def run_pipeline_leg(
    world: scratch.Scratch, options: Options, rounds: list[Round]
) -> pipeline.PipelineResult | None:
    """With --pipeline: commit-to-Novu latency at half the last round's maximum (bench/pipeline.py)."""
    if not options.pipeline:
        return None
    result = pipeline.run_leg(world, seconds=options.seconds, rate=rounds[-1].product_max / 2, say=say)
    say(pipeline.describe(result))
    return result


def machine() -> dict[str, Any]:
    pg_version = subprocess.run(
        [rawsql.pgbench_executable(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "pgbench": pg_version,
    }


def main(
    argv: Sequence[str] | None = None, *, on_round: Callable[[Round], None] | None = None
) -> dict[str, Any]:
    """Run the benchmark; returns (and with --json writes) every figure. The table goes to stdout."""
    options = parse_args(argv)
    rawsql.pgbench_executable()  # fail before any setup when a tool is missing
    if options.load == "wrk":
        product.wrk_executable()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="gopherpay-bench-"))
    world = scratch.create_database(workdir)
    started = time.monotonic()
    try:
        say(f"setup: database {world.database}, {options.users} users (logs in {workdir})")
        scratch.populate(world, options.users)
        say("setup done")
        rounds = []
        for number in range(1, options.rounds + 1):
            rounds.append(run_round(world, options, number))
            if on_round is not None:
                on_round(rounds[-1])
        summary = summarize(rounds, options)
        pipeline_leg = run_pipeline_leg(world, options, rounds)
    finally:
        if options.keep_db:
            say(f"kept the scratch database: {world.url}")
        else:
            scratch.drop_database(world)
    report = {
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "database": world.database,
        "database_kept": options.keep_db,
        "options": asdict(options) | {"json_path": str(options.json_path), "workdir": str(workdir)},
        "wall_seconds": time.monotonic() - started,
        "summary": summary,
        "rounds": [
            {
                "round": r.number,
                "raw-1": asdict(r.raw_one),
                "raw-batch": asdict(r.raw_batch),
                "product": [run.as_dict() for run in r.product],
                "half-load": r.half.as_dict() if r.half else None,
                "daemon_peak_rss_kib": r.peak_rss_kib,
            }
            for r in rounds
        ],
        "table": table(summary, options),
    }
    if pipeline_leg is not None:
        report["pipeline"] = pipeline_leg.as_dict()
        report["table"] = f"{report['table']}\n{pipeline.describe(pipeline_leg)}"
    print(report["table"])
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


if __name__ == "__main__":
    try:
        main()
    except scratch.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
