"""The event pipeline under load: commit-to-Novu-trigger latency and the outbox backlog.

The daemon runs with Kafka (a Tansu broker), `gopherpayd relay` and `gopherpayd worker`, and the
Novu stand-in of the test suite (a local HTTP server that speaks Novu's trigger API, reached
through the real novu-py SDK), in a process of its own (bench/novu_process.py) so that the load
generator's threads do not delay its clock. Open-loop load at half the API's maximum rate; for
every Novu trigger of the measured window, latency = (when the stand-in received it) - (the
outbox row's created_at, stamped in the committing transaction). Both clocks are this
machine's. The latency is split in two stages: commit -> published (the relay: outbox to
Kafka, published_at) and published -> Novu (Kafka, the worker's inbox transaction, the SDK).

Alone: `.venv/bin/python -m bench.pipeline [--seconds 10] [--users 50] [--rate R]` (a scratch
database of its own; without --rate, the maximum is measured first with 16 connections).
In the main benchmark: `python -m bench.run --pipeline` adds this leg after the rounds.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/pipeline.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import product, scratch  # noqa: E402
from bench.novu_process import NovuProcess  # noqa: E402
from gopherpayd.outbox import catalog  # noqa: E402

TOPIC_PREFIX = "gp-bench"
GROUP_ID = "gp-bench-notifications"
NOVU_SECRET = "novu-bench-secret"
DELIVERY_TIMEOUT = 180.0
"""Seconds to wait for the last trigger of the window after the load stops."""
SAMPLE_SECONDS = 0.5


@dataclass
class WiredScratch(scratch.Scratch):
    """The scratch world whose daemon processes also get the Kafka and Novu settings."""

    extra: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return super().environment() | self.extra


@dataclass
class PipelineResult:
    rate: float
    seconds: float
    transfers: int
    triggers: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    backlog_max: int
    """Most outbox rows waiting for the relay at any sample during the load."""
    unhandled_max: int
    """Most published events not yet handled by the worker at any sample."""
    backlog_end: int
    unhandled_end: int
    api_p99_ms: float
    relay_p50_ms: float
    """Commit -> published on Kafka (the outbox relay's stage)."""
    relay_p99_ms: float
    worker_p50_ms: float
    """Published -> received by Novu (Kafka, the worker, the SDK's HTTP call)."""
    worker_p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _support(name: str) -> Any:
    """The test suite's stand-ins (tests/support), imported as the untyped tools they are here."""
    return importlib.import_module(f"tests.support.{name}")


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _spawn(world: WiredScratch, command: str) -> subprocess.Popen[bytes]:
    log = (world.workdir / f"{command}-pipeline.log").open("w")
    process = subprocess.Popen(
        [scratch.gopherpayd_executable(), command],
        env=world.environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Sampler:
    """The relay's backlog and the worker's, every SAMPLE_SECONDS, in a thread: of the events
    created since `since` only (the raw-SQL legs of bench.run leave rows marked published that
    no handler ever sees; they are not the pipeline's backlog)."""

    def __init__(self, world: scratch.Scratch, since: datetime) -> None:
        self.world = world
        self.since = since
        self.samples: list[tuple[int, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def measure(self) -> tuple[int, int]:
        with self.world.connect() as connection:
            row = connection.execute(
                "SELECT count(*) FILTER (WHERE published_at IS NULL),"
                " count(*) FILTER (WHERE published_at IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM processed_events p WHERE p.event_id = outbox.id))"
                " FROM outbox WHERE created_at > %s",
                (self.since,),
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])  # type: ignore[call-overload]

    def _run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.samples.append(self.measure())

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join()


def _workflow_events_since(world: scratch.Scratch, since: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Outbox event id -> (created_at, published_at) of the events after `since` that trigger a
    Novu workflow (published_at is created_at while the row waits for the relay)."""
    with world.connect() as connection:
        rows = connection.execute(
            "SELECT id::text, event_type, created_at, coalesce(published_at, created_at) FROM outbox"
            " WHERE created_at > %s",
            (since,),
        ).fetchall()
    return {
        str(event_id): (created, published)
        for event_id, event_type, created, published in rows
        if catalog.kind_of(str(event_type)).workflow is not None
        and isinstance(created, datetime)
        and isinstance(published, datetime)
    }


def _wait_for_triggers(novu: NovuProcess, event_ids: set[str], timeout: float) -> dict[str, datetime]:
    deadline = time.monotonic() + timeout
    while True:
        received = {i: at for i, at in novu.received().items() if i in event_ids}
        if len(received) == len(event_ids) or time.monotonic() > deadline:
            return received
        time.sleep(0.5)


def _ms(ordered: list[float]) -> tuple[float, float]:
    """(p50, p99) of sorted milliseconds."""
    return statistics.median(ordered), _percentile(ordered, 99)


def _now(world: scratch.Scratch) -> datetime:
    with world.connect() as connection:
        row = connection.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0]


def run_leg(
    world: scratch.Scratch, *, seconds: float, rate: float | None = None, say: Any = print
) -> PipelineResult:
    """Bring up broker, Novu stand-in, serve + relay + worker on `world`; measure at `rate`
    transfers/s (None: half the maximum measured here first)."""
    kafka = _support("kafka")
    broker = kafka.TansuBroker(world.workdir / "broker-pipeline.log").start()
    novu = NovuProcess(NOVU_SECRET, world.workdir).start()
    processes: list[subprocess.Popen[bytes]] = []
    daemon = None
    try:
        broker.create_topics(TOPIC_PREFIX)
        wired = WiredScratch(
            workdir=world.workdir,
            database=world.database,
            jwt_secret=world.jwt_secret,
            accounts=world.accounts,
            admin_token=world.admin_token,
            tokens_at=world.tokens_at,
            extra={
                "GOPHERPAY_KAFKA_BOOTSTRAP": broker.bootstrap,
                "GOPHERPAY_KAFKA_TOPIC_PREFIX": TOPIC_PREFIX,
                "GOPHERPAY_KAFKA_GROUP_ID": GROUP_ID,
                "GOPHERPAY_NOVU_SECRET_KEY": NOVU_SECRET,
                "GOPHERPAY_NOVU_SERVER_URL": novu.url,
            },
        )
        with wired.connect() as connection:  # earlier legs' events are not this leg's to deliver
            connection.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        daemon = scratch.Daemon(wired, "serve-pipeline.log")
        scratch.refresh_tokens(wired, daemon)
        processes = [_spawn(wired, "relay"), _spawn(wired, "worker")]

        say("pipeline: warming up (the worker joins its group)")
        warm_from = _now(wired)
        product.measure(
            wired, daemon, label="pipe-warm", generator="python", connections=0, seconds=3, rate=5
        )
        warm = _workflow_events_since(wired, warm_from)
        if len(_wait_for_triggers(novu, set(warm), DELIVERY_TIMEOUT)) != len(warm):
            raise scratch.BenchError(f"the pipeline did not deliver its warm-up events; see {wired.workdir}")

        if rate is None:
            # wrk when it is installed: the Python closed loop's own CPU capped the maximum
            # (and so the half load) at about a third of what wrk measures.
            generator = "wrk" if shutil.which("wrk") else "python"
            say(f"pipeline: the API's maximum with Kafka on (16 connections, {generator})")
            top = product.measure(
                wired, daemon, label="pipe-max", generator=generator, connections=16, seconds=seconds
            )
            rate = top.transfers_per_s / 2
        say(f"pipeline: open loop at {rate:.1f} transfers/s for {seconds:.0f} s")
        window_from = _now(wired)
        with Sampler(wired, window_from) as sampler:
            half = product.measure(
                wired,
                daemon,
                label="pipe-half",
                generator="python",
                connections=0,
                seconds=seconds,
                rate=rate,
            )
        window = _workflow_events_since(wired, window_from)
        received = _wait_for_triggers(novu, set(window), DELIVERY_TIMEOUT)
        if len(received) != len(window):
            raise scratch.BenchError(
                f"{len(window) - len(received)} of {len(window)} events never reached Novu; "
                f"see {wired.workdir}"
            )
        latencies = sorted((received[i] - window[i][0]).total_seconds() * 1000 for i in window)
        relay = sorted((published - created).total_seconds() * 1000 for created, published in window.values())
        worker = sorted((received[i] - window[i][1]).total_seconds() * 1000 for i in window)
        backlog_end, unhandled_end = sampler.measure()
        samples = sampler.samples or [(0, 0)]
        return PipelineResult(
            rate=rate,
            seconds=seconds,
            transfers=half.created,
            triggers=len(latencies),
            p50_ms=statistics.median(latencies),
            p90_ms=_percentile(latencies, 90),
            p99_ms=_percentile(latencies, 99),
            max_ms=latencies[-1],
            backlog_max=max(s[0] for s in samples),
            unhandled_max=max(s[1] for s in samples),
            backlog_end=backlog_end,
            unhandled_end=unhandled_end,
            api_p99_ms=half.p99_ms,
            relay_p50_ms=_ms(relay)[0],
            relay_p99_ms=_ms(relay)[1],
            worker_p50_ms=_ms(worker)[0],
            worker_p99_ms=_ms(worker)[1],
        )
    finally:
        for process in processes:
            _stop(process)
        if daemon is not None:
            daemon.stop()
        novu.stop()
        broker.stop()


def describe(result: PipelineResult) -> str:
    return (
        f"pipeline at {result.rate:.1f}/s for {result.seconds:.0f} s: {result.triggers} Novu triggers of "
        f"{result.transfers} transfers; commit -> trigger p50 {result.p50_ms:.0f} ms, p90 "
        f"{result.p90_ms:.0f} ms, p99 {result.p99_ms:.0f} ms, max {result.max_ms:.0f} ms; outbox "
        f"backlog max {result.backlog_max} (end {result.backlog_end}), unhandled max "
        f"{result.unhandled_max} (end {result.unhandled_end}); API p99 {result.api_p99_ms:.0f} ms; stages: "
        f"commit -> Kafka p50 {result.relay_p50_ms:.0f} / p99 {result.relay_p99_ms:.0f} ms, Kafka -> Novu "
        f"p50 {result.worker_p50_ms:.0f} / p99 {result.worker_p99_ms:.0f} ms"
    )


def main(argv: list[str] | None = None) -> PipelineResult:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load (10)")
    parser.add_argument("--users", type=int, default=50, help="funded users (50)")
    parser.add_argument("--rate", type=float, help="transfers/s (default: half the measured maximum)")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gopherpay-bench-pipeline-"))
    world = scratch.create_database(workdir)
    try:
        print(f"setup: database {world.database}, {args.users} users (logs in {workdir})", file=sys.stderr)
        scratch.populate(world, args.users)
        result = run_leg(
            world, seconds=args.seconds, rate=args.rate, say=lambda m: print(m, file=sys.stderr, flush=True)
        )
    finally:
        if not args.keep_db:
            scratch.drop_database(world)
    print(describe(result))
    return result


if __name__ == "__main__":
    try:
        main()
    except scratch.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
