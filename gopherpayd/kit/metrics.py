"""Prometheus metrics of one daemon process, kept with prometheus-client.

The counters and histograms here are process-wide (the library's default registry) and are
updated in memory only: a request costs two label look-ups, never a database query. Gauges
that need the database or the broker (outbox backlog, consumer lag, dead letters) are
computed when Prometheus scrapes, by collectors their own layer registers in a `Scrape`.

Labels hold route templates (`/v1/transfers/{transfer_id}`), methods and status codes, never
a path as sent, a user, an address or anything secret. A request that matched no route is
counted under the route `unmatched`, so random paths cannot grow the label set.

With `gopherpayd serve --workers N` each worker is a process of its own: serve then points
PROMETHEUS_MULTIPROC_DIR at a fresh private directory before the workers start, and a
scrape of any worker reads every worker's counters from there (the library's multiprocess
mode); serve removes the directory when it stops.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"

HTTP_REQUESTS = Counter(
    "gopherpay_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "gopherpay_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOGIN_FAILURES = Counter(
    "gopherpay_login_failures_total",
    "Logins refused: `refused` (wrong email or password, frozen account) or `throttled` (429).",
    ["reason"],
)
TRANSFERS_COMMITTED = Counter(
    "gopherpay_transfers_committed_total",
    "Money movements that moved money, committed by the coalescing writer (replays not counted).",
)
MOVEMENTS_REFUSED = Counter(
    "gopherpay_movements_refused_total",
    "Money movements the writer refused (insufficient funds, frozen, ...; replays not counted).",
)
BATCH_SIZE = Histogram(
    "gopherpay_writer_batch_size",
    "Money movements per transaction the coalescing writer committed (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)
BATCH_SPLITS = Counter(
    "gopherpay_writer_batch_splits_total",
    "Batches the writer split in two because the whole transaction failed (isolating a culprit).",
)
LOOP_ROUND = Gauge(
    "gopherpay_loop_last_round_timestamp_seconds",
    "Unix time the relay's or worker's main loop last finished a round (its liveness).",
    multiprocess_mode="max",
)


def note_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_DURATION.labels(*labels).observe(seconds)


def note_batch(size: int, moved: int, refused: int) -> None:
    """One committed writer transaction of `size` movements: how many moved money and how many
    were refused (replays of an idempotency key are neither)."""
    BATCH_SIZE.observe(size)
    if moved:
        TRANSFERS_COMMITTED.inc(moved)
    if refused:
        MOVEMENTS_REFUSED.inc(refused)


def note_split() -> None:
    BATCH_SPLITS.inc()


def note_login_failure(reason: str) -> None:
    LOGIN_FAILURES.labels(reason).inc()


class Liveness:
    """A loop's heartbeat: `beat()` after each round; alive while the last beat is recent."""

    def __init__(self, max_silence: float) -> None:
        self.max_silence = max_silence
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()
        LOOP_ROUND.set(time.time())

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._last <= self.max_silence


class Scrape:
    """What one scrape answers: the process-wide metrics plus gauges computed now."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._on_demand = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            self._on_demand.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(process_registry()) + generate_latest(self._on_demand)


def process_registry() -> CollectorRegistry:
    """The default registry, or under --workers N a view of every worker's files."""
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def serve_metrics(host: str, port: int, scrape: Scrape, alive: Callable[[], bool]) -> ThreadingHTTPServer:
    """A tiny HTTP server in a daemon thread, for relay and worker: GET /metrics (the
    exposition) and GET /healthz (200 while the loop is alive, else 503)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, scrape.exposition())
            elif path == "/healthz":
                ok = alive()
                self._answer(
                    200 if ok else 503, "application/json", b'{"status":"%s"}' % (b"ok" if ok else b"stalled")
                )
            else:
                self._answer(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes and probes every few seconds would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="gopherpayd-metrics", daemon=True).start()
    return server
