"""The raw-SQL limits: pgbench running scripts that write exactly the product's rows.

pgbench is a C client, so what it measures is the database: prepared statements (`-M
prepared`), no ORM, no HTTP. Deadlocks and serialization failures are retried by pgbench
itself (`--max-tries`), as the product's engine retries them.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.scratch import SCRIPTS, BenchError, Scratch

PGBENCH_CANDIDATES = ("/usr/lib/postgresql/15/bin/pgbench",)


def pgbench_executable() -> str:
    for candidate in PGBENCH_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    found = shutil.which("pgbench")
    if found is None:
        raise BenchError(
            "pgbench is not installed; it comes with PostgreSQL's client tools: "
            "apt-get install -y postgresql-contrib (or postgresql-client-15)"
        )
    return found


@dataclass(frozen=True)
class RawResult:
    kind: str
    """raw-1 or raw-batch."""
    clients: int
    batch: int
    seconds: float
    transactions: int
    failed: int
    transfers_per_s: float
    latency_ms: float
    """pgbench's mean latency of one transaction (one commit)."""
    client_cpu_s: float


def _number(pattern: str, output: str, default: float | None = None) -> float:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        if default is not None:
            return default
        raise BenchError(f"pgbench output without {pattern!r}:\n{output}")
    return float(match.group(1))


def run_pgbench(scratch: Scratch, *, batch: int, clients: int, seconds: float) -> RawResult:
    """One timed pgbench run: raw-1 when batch == 1, else raw-batch with `batch` per commit."""
    script = SCRIPTS / ("raw_one.sql" if batch == 1 else "raw_batch.sql")
    command = [
        pgbench_executable(),
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={max(1, round(seconds))}",
        "--max-tries=50",
        f"--file={script}",
        f"--define=naccounts={len(scratch.accounts)}",
        f"--define=batch={batch}",
        "--host=127.0.0.1",
        "--username=postgres",
        scratch.database,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise BenchError(f"pgbench failed ({done.returncode}):\n{output}")
    transactions = int(_number(r"number of transactions actually processed: (\d+)", output))
    tps = _number(r"^tps = ([\d.]+)", output)
    return RawResult(
        kind="raw-1" if batch == 1 else "raw-batch",
        clients=clients,
        batch=batch,
        seconds=max(1, round(seconds)),
        transactions=transactions,
        failed=int(_number(r"number of failed transactions: (\d+)", output, default=0)),
        transfers_per_s=tps * batch,
        latency_ms=_number(r"latency average = ([\d.]+) ms", output),
        client_cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    )


def mark_raw_events_published(scratch: Scratch) -> int:
    """Housekeeping between legs, outside any timing: the raw legs' outbox events are marked
    published, so the daemon's in-process dispatcher does not deliver them while the product
    is measured (it delivers the product's own events, which is part of the product's cost)."""
    with scratch.connect() as connection:
        cursor = connection.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        return cursor.rowcount
