"""The product leg: `gopherpayd serve` on the scratch database under HTTP load.

Each load run is checked afterwards: every transfer in the table has a 201 idempotency record
of this run, the load generator's 201 count matches the table (wrk stops with up to one request
per connection in flight, which the daemon may still commit; the Python generator waits for
them, so there the match is exact), no request was refused, and the product's ledger audit is
clean.

The same function measures the hot-wallet case (`hot`: that share of transfers credits one
user), the bulk API (`bulk`: items per POST /v1/transfers/batch; `created` counts items) and
the movement legs (`movement`: holds and captures, FX executions; `created` counts operations,
each posting one transfer, and the leg's own checks replace the per-transfer ones, see
bench/movements.py),
and runs on the embedded SQLite daemon as well as on Postgres.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.movements import Movement
from bench.scratch import SCRIPTS, BenchError, Daemon, Scratch, audit

WRK_INSTALL = "wrk is not installed: apt-get install -y wrk (or run with --load python)"
REPO_ROOT = Path(__file__).resolve().parent.parent


def wrk_executable() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(WRK_INSTALL)
    return found


@dataclass
class LoadResult:
    label: str
    """"c8", "c16", ... for closed loops; "half" for the open loop at half the max rate."""
    generator: str
    connections: int
    target_rate: float | None
    duration_s: float
    created: int
    transfers_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    refused: int
    """Answers other than 201 plus socket errors and timeouts: must be 0."""
    transfers_in_table: int
    """Transfers the daemon committed during this run (the table before and after)."""
    in_flight_at_stop: int
    """Committed but not counted by the generator (wrk's cut-off); 0 for the Python one."""
    server_cpu_s: float
    loadgen_cpu_s: float
    outbox_backlog_after_s: int
    """Unpublished outbox events once the dispatcher had its drain time (0 = it kept up)."""
    audit_ok: bool
    hot: float = 0.0
    """Share of the transfers that credit the one hot wallet (0: uniform)."""
    bulk: int = 0
    """Items per POST /v1/transfers/batch (0: single POST /v1/transfers)."""
    requests: int = 0
    """HTTP requests answered (for bulk, batches; otherwise one per transfer)."""
    missing: bool = False
    """The daemon answered 404/405: it has no such endpoint (the bulk API not built yet)."""
    daemon_rss_kib: int = 0
    """The daemon's VmHWM (peak resident memory) right after this run."""
    hot_received: int | None = None
    """Hot runs: transfers of this run that credited the hot user (None for the others)."""
    movement: str = ""
    """A movement leg's name ("holds", "fx"); "" for plain transfers."""
    started: int = 0
    """Movement legs: operations whose first request was answered 201 (holds placed, quotes)."""
    movement_counts: dict[str, int] | None = None
    """Movement legs: the run's rows as its checks counted them (bench/movements.py)."""

    @property
    def loadgen_cpu_share(self) -> float:
        return self.loadgen_cpu_s / self.server_cpu_s if self.server_cpu_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"loadgen_cpu_share": self.loadgen_cpu_share}


def _run_wrk(
    daemon: Daemon,
    scratch: Scratch,
    tag: str,
    connections: int,
    seconds: float,
    *,
    hot: float,
    bulk: int,
    movement: Movement | None,
) -> dict[str, Any]:
    script, extra = ("bulk.lua", str(bulk)) if bulk else ("transfer.lua", str(hot))
    if movement is not None:
        script, extra = movement.wrk_script, ""
    command = [
        wrk_executable(),
        f"--threads={min(connections, 2)}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=120s",
        "--latency",
        f"--script={SCRIPTS / script}",
        daemon.base_url,
        "--",
        tag,
        str(scratch.tokens_file),
        extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 180, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH-JSON "))
            return result
    raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _run_python(
    daemon: Daemon,
    scratch: Scratch,
    tag: str,
    *,
    connections: int,
    seconds: float,
    rate: float | None,
    hot: float,
    bulk: int,
    movement: Movement | None,
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        f"--url={daemon.base_url}",
        f"--tokens={scratch.tokens_file}",
        f"--tag={tag}",
        f"--seconds={seconds}",
        f"--hot={hot}",
        f"--bulk={bulk}",
    ]
    if movement is not None:
        command.append(f"--movement={movement.name}")
    command += (
        ["--mode=open", f"--rate={rate}"] if rate else ["--mode=closed", f"--connections={connections}"]
    )
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 300, check=False, cwd=REPO_ROOT
    )
    if done.returncode != 0:
        raise BenchError(f"the Python load generator failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _settled_count(scratch: Scratch, quiet: float = 1.5, timeout: float = 120.0) -> int:
    """The transfers in the table once no more arrive: requests wrk left in flight at its
    cut-off are still committed by the daemon, up to one per connection."""
    deadline = time.monotonic() + timeout
    count = scratch.scalar("SELECT count(*) FROM transfers")
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = scratch.scalar("SELECT count(*) FROM transfers")
        if now == count:
            return now
        count = now
    return count


def _wait_for_outbox(scratch: Scratch, timeout: float) -> int:
    """Give the in-process dispatcher time to deliver this run's events; the backlog left."""
    deadline = time.monotonic() + timeout
    while True:
        backlog = scratch.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        if backlog == 0 or time.monotonic() > deadline:
            return backlog
        time.sleep(0.25)


HOT_CREDITS = (
    "SELECT count(*) FROM transfers WHERE to_wallet_id IN "
    "(SELECT w.id FROM wallets w JOIN users u ON u.id = w.owner_id WHERE u.email = %s AND w.kind = 'user')"
)
"""Transfers crediting the hot user: the first line of the tokens file, the first account."""


def measure(
    scratch: Scratch,
    daemon: Daemon,
    *,
    label: str,
    generator: str,
    connections: int,
    seconds: float,
    rate: float | None = None,
    hot: float = 0.0,
    bulk: int = 0,
    movement: Movement | None = None,
) -> LoadResult:
    """One load run against the daemon, checked against the table and the audit.

    A bulk run the daemon answers 404/405 comes back with `missing` set and nothing else
    checked: the endpoint is not there to measure."""
    tag = f"{label}-{uuid.uuid4().hex[:10]}"
    transfers_before = scratch.scalar("SELECT count(*) FROM transfers")
    hot_user = (scratch.accounts[0].email,)
    hot_before = scratch.scalar(HOT_CREDITS, hot_user) if hot else 0
    started_at = datetime.now(UTC)
    cpu_before = daemon.cpu_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    exact = generator != "wrk" or rate is not None
    if not exact:
        raw = _run_wrk(daemon, scratch, tag, connections, seconds, hot=hot, bulk=bulk, movement=movement)
    else:
        raw = _run_python(
            daemon,
            scratch,
            tag,
            connections=connections,
            seconds=seconds,
            rate=rate,
            hot=hot,
            bulk=bulk,
            movement=movement,
        )
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The Python generator has every answer back, so nothing is still being committed.
    settled = scratch.scalar("SELECT count(*) FROM transfers") if exact else _settled_count(scratch)
    committed = settled - transfers_before
    server_cpu = daemon.cpu_seconds() - cpu_before
    recorded = scratch.scalar(
        f"SELECT count(*) FROM idempotency_keys WHERE key LIKE '{tag}-%' AND status_code = 201"  # noqa: S608
    )
    refused = (
        raw["client_errors"] + raw["server_errors"] + raw["other"] + raw["socket_errors"] + raw["timeouts"]
    )
    backlog = _wait_for_outbox(scratch, timeout=max(30.0, 3 * seconds))
    report = audit(scratch, daemon)
    used = "python" if exact else generator
    result = LoadResult(
        label=label,
        generator=used,
        connections=connections,
        target_rate=rate,
        duration_s=float(raw["duration_s"]),
        created=int(raw["created"]),
        transfers_per_s=raw["created"] / raw["duration_s"] if raw["duration_s"] else 0.0,
        p50_ms=float(raw["p50_ms"]),
        p90_ms=float(raw["p90_ms"]),
        p99_ms=float(raw["p99_ms"]),
        max_ms=float(raw["max_ms"]),
        mean_ms=float(raw["mean_ms"]),
        refused=int(refused),
        transfers_in_table=committed,
        in_flight_at_stop=committed - int(raw["created"]),
        server_cpu_s=server_cpu,
        loadgen_cpu_s=(children_after.ru_utime - children_before.ru_utime)
        + (children_after.ru_stime - children_before.ru_stime),
        outbox_backlog_after_s=backlog,
        audit_ok=bool(report.get("ok")),
        hot=hot,
        bulk=bulk,
        requests=int(raw["responses"]),
        missing=bool(raw.get("missing")) and int(raw["created"]) == 0,
        daemon_rss_kib=daemon.peak_rss_kib(),
        hot_received=scratch.scalar(HOT_CREDITS, hot_user) - hot_before if hot else None,
        movement=movement.name if movement else "",
        started=int(raw.get("started", 0)),
        movement_counts=movement.count(scratch, tag, started_at) if movement else None,
    )
    if movement is not None:
        check_movement(result, movement, report)
    elif not result.missing:
        check(result, recorded, report)
    elif committed:
        raise BenchError(f"run {result.label}: 404/405 answers, yet {committed} transfers were committed")
    return result


def _common_problems(result: LoadResult, report: dict[str, Any]) -> list[str]:
    problems = []
    if not result.audit_ok:
        problems.append(f"the ledger audit is not clean: {report.get('violations')}")
    if result.refused:
        problems.append(f"{result.refused} requests were not answered 201")
    return problems


def _in_flight_limit(result: LoadResult) -> int:
    """The most requests that may still have been in flight at the generator's cut-off."""
    return 0 if result.generator == "python" else result.connections * max(1, result.bulk)


def check(result: LoadResult, recorded: int, report: dict[str, Any]) -> None:
    """Stop the benchmark when the product lost, doubled or refused money movements."""
    problems = _common_problems(result, report)
    if recorded != result.transfers_in_table:
        problems.append(
            f"{result.transfers_in_table} transfers committed but {recorded} idempotency records answer 201"
        )
    limit = _in_flight_limit(result)
    if not 0 <= result.in_flight_at_stop <= limit:
        problems.append(
            f"{result.created} answers 201 but {result.transfers_in_table} transfers in the table "
            f"(at most {limit} may still have been in flight)"
        )
    if problems:
        raise BenchError(f"product run {result.label}: " + "; ".join(problems))


def check_movement(result: LoadResult, movement: Movement, report: dict[str, Any]) -> None:
    """Stop the benchmark when a movement leg's rows do not add up (bench/movements.py)."""
    assert result.movement_counts is not None
    problems = _common_problems(result, report)
    problems += movement.problems(result, result.movement_counts, _in_flight_limit(result), report)
    if problems:
        raise BenchError(f"product run {result.label}: " + "; ".join(problems))
