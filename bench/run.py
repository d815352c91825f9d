"""Benchmark: the product's transfers per second against the raw-SQL limit of the same database.

Each round runs every leg once, one after the other (one function per leg below): raw-1 and
raw-batch (pgbench), the product's single transfers at each connection count and at half load,
the movement legs (holds and captures, FX executions; bench/movements.py), the hot wallet, the bulk API, then
the embedded SQLite daemon and the raw sqlite3 script.

Run from the repository root: `.venv/bin/python -m bench.run` (or `python bench/run.py`).
bench/README.md says what it measures and how to read it. A dev tool, run by hand: no test
asserts speed, and CI does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import conservation, pipeline, product, rawsql, rawsqlite, scratch  # noqa: E402
from bench.movements import MOVEMENTS  # noqa: E402
from bench.product import LoadResult  # noqa: E402
from bench.report import summarize, table, target_rows, targets_table  # noqa: E402


@dataclass
class Options:
    users: int = 200
    rounds: int = 4
    seconds: float = 8.0
    connections: list[int] = field(default_factory=lambda: [8, 16, 64])
    raw_clients: int = 8
    batch: int = 50
    load: str = "wrk"
    keep_db: bool = False
    json_path: Path | None = None
    workdir: Path | None = None
    quick: bool = False
    hot_share: float = 0.5
    bulk_clients: int = 4
    sqlite_connections: int = 16
    pipeline: bool = False
    movements: list[str] = field(default_factory=lambda: list(MOVEMENTS))


@dataclass
class Round:
    number: int
    raw_one: rawsql.RawResult
    raw_batch: rawsql.RawResult
    product: list[LoadResult]
    half: LoadResult | None
    peak_rss_kib: int
    hot: LoadResult | None = None
    bulk: LoadResult | None = None
    sqlite: SqliteRound | None = None
    movements: dict[str, LoadResult] = field(default_factory=dict)
    """Each movement leg's run (bench/movements.py), by name."""

    @property
    def product_max(self) -> float:
        return max(run.transfers_per_s for run in self.product)


@dataclass
class SqliteRound:
    """The embedded default in one round: the daemon on its SQLite file, and the raw script."""

    raw: rawsqlite.RawSqliteResult
    api: LoadResult
    peak_rss_kib: int


@dataclass
class World:
    """Everything set up once: the Postgres scratch database, the embedded daemon's data dir,
    the copy of its file the raw sqlite3 script writes to, and the settings in force."""

    postgres: scratch.Scratch
    sqlite: scratch.SqliteScratch | None = None
    raw_sqlite: scratch.SqliteScratch | None = None
    transfer_batch_max: dict[str, str] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Transfers/s of POST /v1/transfers against raw SQL writing the same rows, "
        "interleaved in rounds on a scratch Postgres database.",
    )
    parser.add_argument("--users", type=int, default=200, help="funded users (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of every leg, interleaved (4)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measurement (8)")
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
        "--quick", action="store_true", help="smoke run of a few minutes: 1 round, 2 s each, 20 users"
    )
    parser.add_argument(
        "--hot-share", type=float, default=0.5, help="share of the hot leg's transfers to one wallet (0.5)"
    )
    parser.add_argument("--bulk-clients", type=int, default=4, help="concurrent clients of the bulk leg (4)")
    parser.add_argument(
        "--sqlite-connections", type=int, default=16, help="connections of the SQLite API leg (16)"
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="then the event pipeline at half the max (Kafka, relay, worker, Novu; bench/pipeline.py)",
    )
    parser.add_argument(
        "--movements",
        default=",".join(MOVEMENTS),
        help=f"movement legs of every round, '' for none ({','.join(MOVEMENTS)}; bench/movements.py)",
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
        hot_share=args.hot_share,
        bulk_clients=args.bulk_clients,
        sqlite_connections=args.sqlite_connections,
        pipeline=args.pipeline,
        movements=[name.strip() for name in args.movements.split(",") if name.strip()],
    )
    if args.quick:
        options.rounds, options.seconds, options.users = 1, 2.0, 20
    if options.users < 2 or options.rounds < 1 or options.seconds <= 0 or not options.connections:
        parser.error("need at least 2 users, 1 round, a positive --seconds and one connection count")
    if options.batch < 2:
        parser.error("--batch must be at least 2 (raw-1 is the batch of one)")
    if not 0 < options.hot_share <= 1 or options.bulk_clients < 1 or options.sqlite_connections < 1:
        parser.error("--hot-share must be in (0, 1]; --bulk-clients and --sqlite-connections at least 1")
    unknown = sorted(set(options.movements) - set(MOVEMENTS))
    if unknown:
        parser.error(f"unknown --movements {','.join(unknown)}; known: {','.join(MOVEMENTS)}")
    return options


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def run_raw_legs(world: scratch.Scratch, options: Options, number: int) -> tuple[rawsql.RawResult, ...]:
    """raw-1 and raw-batch: pgbench writing the product's rows, 1 and `batch` per commit."""
    say(f"round {number}: raw-1 ({options.raw_clients} clients)")
    raw_one = rawsql.run_pgbench(world, batch=1, clients=options.raw_clients, seconds=options.seconds)
    say(f"  {raw_one.transfers_per_s:,.0f} transfers/s")
    say(f"round {number}: raw-batch ({options.batch} per commit, {options.raw_clients} clients)")
    raw_batch = rawsql.run_pgbench(
        world, batch=options.batch, clients=options.raw_clients, seconds=options.seconds
    )
    say(f"  {raw_batch.transfers_per_s:,.0f} transfers/s")
    rawsql.mark_raw_events_published(world)
    return raw_one, raw_batch


def run_single_legs(
    world: scratch.Scratch, daemon: scratch.Daemon, options: Options, number: int
) -> tuple[list[LoadResult], LoadResult | None]:
    """POST /v1/transfers at each connection count, then the open loop at half the best rate."""
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
    return runs, half


def hot_connections(options: Options) -> int:
    """The hot leg runs at the largest connection count, next to its uniform twin of the round."""
    return max(options.connections)


def run_hot_leg(world: scratch.Scratch, daemon: scratch.Daemon, options: Options, number: int) -> LoadResult:
    """POST /v1/transfers where `hot_share` of all transfers credit one user's wallet."""
    connections = hot_connections(options)
    say(f"round {number}: hot wallet, {100 * options.hot_share:.0f}% to one user, {connections} connections")
    run = product.measure(
        world,
        daemon,
        label=f"hot-c{connections}",
        generator=options.load,
        connections=connections,
        seconds=options.seconds,
        hot=options.hot_share,
    )
    say(f"  {run.transfers_per_s:,.1f} transfers/s, p99 {run.p99_ms:.0f} ms")
    return run


def run_movement_legs(
    world: scratch.Scratch, daemon: scratch.Daemon, options: Options, number: int
) -> dict[str, LoadResult]:
    """Each movement leg (holds and captures, FX executions) at the largest connection count,
    like the hot leg, so that its twin is this round's single-transfer run at that count."""
    connections = hot_connections(options)
    runs = {}
    for name in options.movements:
        movement = MOVEMENTS[name]
        if movement.prepare is not None:
            movement.prepare(world, daemon)
        say(f"round {number}: {name}, {connections} connections ({options.load})")
        run = product.measure(
            world,
            daemon,
            label=f"{name}-c{connections}",
            generator=options.load,
            connections=connections,
            seconds=options.seconds,
            movement=movement,
        )
        say(f"  {run.transfers_per_s:,.1f} operations/s, p99 {run.p99_ms:.0f} ms per request")
        runs[name] = run
    return runs


def run_bulk_leg(world: scratch.Scratch, daemon: scratch.Daemon, options: Options, number: int) -> LoadResult:
    """POST /v1/transfers/batch of `batch` independent items, `bulk_clients` at a time."""
    say(f"round {number}: bulk, {options.bulk_clients} clients x {options.batch} items ({options.load})")
    run = product.measure(
        world,
        daemon,
        label="bulk",
        generator=options.load,
        connections=options.bulk_clients,
        seconds=options.seconds,
        bulk=options.batch,
    )
    if run.missing:
        say("  endpoint missing: POST /v1/transfers/batch answered 404/405")
    else:
        say(f"  {run.transfers_per_s:,.1f} transfers/s, p99 {run.p99_ms:.0f} ms per batch")
    return run


def run_sqlite_leg(world: World, options: Options, number: int) -> SqliteRound:
    """The embedded default: the raw sqlite3 script on its copy, then `gopherpayd serve` with
    no database configured on its own file, under the single-transfer load."""
    assert world.sqlite is not None and world.raw_sqlite is not None
    say(f"round {number}: raw sqlite3, 1 per commit (one process)")
    raw = rawsqlite.measure(world.raw_sqlite, options.seconds, tag=f"raw-sqlite-{number}")
    say(f"  {raw.transfers_per_s:,.0f} transfers/s")
    daemon = scratch.Daemon(world.sqlite, f"serve-sqlite-round-{number}.log")
    try:
        scratch.refresh_tokens(world.sqlite, daemon)
        connections = options.sqlite_connections
        say(f"round {number}: SQLite API, {connections} connections ({options.load})")
        api = product.measure(
            world.sqlite,
            daemon,
            label=f"sqlite-c{connections}",
            generator=options.load,
            connections=connections,
            seconds=options.seconds,
        )
        say(f"  {api.transfers_per_s:,.1f} transfers/s, p99 {api.p99_ms:.0f} ms")
        peak = daemon.peak_rss_kib()
    finally:
        daemon.stop()
    return SqliteRound(raw=raw, api=api, peak_rss_kib=peak)


def run_round(world: World, options: Options, number: int) -> Round:
    raw_one, raw_batch = run_raw_legs(world.postgres, options, number)
    daemon = scratch.Daemon(world.postgres, f"serve-round-{number}.log")
    try:
        scratch.refresh_tokens(world.postgres, daemon)
        runs, half = run_single_legs(world.postgres, daemon, options, number)
        movements = run_movement_legs(world.postgres, daemon, options, number)
        hot = run_hot_leg(world.postgres, daemon, options, number)
        bulk = run_bulk_leg(world.postgres, daemon, options, number)
        peak = daemon.peak_rss_kib()
    finally:
        daemon.stop()
    sqlite = run_sqlite_leg(world, options, number)
    return Round(
        number, raw_one, raw_batch, runs, half, peak, hot=hot, bulk=bulk, sqlite=sqlite, movements=movements
    )


def set_up_into(world: World, workdir: Path, options: Options) -> World:
    """Fill the Postgres scratch database and the embedded daemon's world with funded users,
    both at once: the two worlds share nothing, and setup is not measured."""
    say(f"setup: database {world.postgres.database}, {options.users} users (logs in {workdir})")
    world.sqlite = scratch.create_sqlite(workdir / "sqlite")
    say(f"setup: embedded SQLite in {world.sqlite.path}, {options.users} users")
    with ThreadPoolExecutor(max_workers=2) as pool:
        filled = [pool.submit(scratch.populate, w, options.users) for w in (world.postgres, world.sqlite)]
        for done in filled:
            done.result()
    world.raw_sqlite = rawsqlite.copy_database(world.sqlite, workdir / "sqlite-raw")
    world.transfer_batch_max = {
        "postgres": scratch.setting_in_force(world.postgres, "transfer_batch_max"),
        "sqlite": scratch.setting_in_force(world.sqlite, "transfer_batch_max"),
    }
    say(f"setup done; transfer_batch_max in force: {world.transfer_batch_max}")
    return world


def check_conservation(world: World) -> list[conservation.Conservation]:
    """Money conservation in SQL on every database the run wrote to (raises when broken)."""
    checked = [conservation.check(world.postgres, "postgres")]
    if world.sqlite is not None:
        checked.append(conservation.check(world.sqlite, "sqlite (API)"))
    if world.raw_sqlite is not None:
        checked.append(conservation.check(world.raw_sqlite, "sqlite (raw)"))
    for result in checked:
        say(f"money conserved on {result.database}: {result.transfers:,} transfers, every check 0")
    return checked


def round_document(r: Round) -> dict[str, Any]:
    """One round's figures, as the JSON report keeps them."""
    return {
        "round": r.number,
        "raw-1": asdict(r.raw_one),
        "raw-batch": asdict(r.raw_batch),
        "product": [run.as_dict() for run in r.product],
        "half-load": r.half.as_dict() if r.half else None,
        "hot": r.hot.as_dict() if r.hot else None,
        "bulk": r.bulk.as_dict() if r.bulk else None,
        "movements": {name: run.as_dict() for name, run in r.movements.items()},
        "sqlite": {
            "raw": asdict(r.sqlite.raw),
            "api": r.sqlite.api.as_dict(),
            "daemon_peak_rss_kib": r.sqlite.peak_rss_kib,
        }
        if r.sqlite
        else None,
        "daemon_peak_rss_kib": r.peak_rss_kib,
    }


def run_pipeline_leg(world: scratch.Scratch, options: Options) -> pipeline.PipelineResult | None:
    """With --pipeline: commit-to-Novu latency at half the maximum of the daemon wired to Kafka
    (bench/pipeline.py measures that maximum first). Half of the rounds' maximum would not do:
    those ran the embedded in-process delivery, and on two cores the relay, the worker and the
    broker take the CPU that made that maximum (seen: 325/s in-process, 66/s with Kafka)."""
    if not options.pipeline:
        return None
    result = pipeline.run_leg(world, seconds=options.seconds, rate=None, say=say)
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
    world = World(postgres=scratch.create_database(workdir))
    started = time.monotonic()
    try:
        world = set_up_into(world, workdir, options)
        rounds = []
        for number in range(1, options.rounds + 1):
            rounds.append(run_round(world, options, number))
            if on_round is not None:
                on_round(rounds[-1])
        checked = check_conservation(world)
        summary = summarize(rounds, options)
        summary["transfer_batch_max"] = world.transfer_batch_max
        summary["conservation"] = [asdict(result) | {"ok": result.ok} for result in checked]
        summary["targets"] = target_rows(summary)
        pipeline_leg = run_pipeline_leg(world.postgres, options)
    finally:
        if options.keep_db:
            say(f"kept the scratch database: {world.postgres.url}")
        else:
            scratch.drop_database(world.postgres)
    report = {
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "database": world.postgres.database,
        "database_kept": options.keep_db,
        "options": asdict(options) | {"json_path": str(options.json_path), "workdir": str(workdir)},
        "wall_seconds": time.monotonic() - started,
        "summary": summary,
        "rounds": [round_document(r) for r in rounds],
        "table": table(summary, options) + "\n\n" + targets_table(summary),
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
