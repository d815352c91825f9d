"""What an operator watching a real `gopherpayd serve` sees: Prometheus metrics, request ids
that tie an answer to its log lines, and JSON logs (GOPHERPAY_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import run_gopherpayd
from tests.events.live import wait_until
from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, run_daemon

pytestmark = pytest.mark.e2e

OPS_EMAIL, OPS_PASSWORD = "ops@example.com", "ops-password-secret"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    with run_daemon(tmp_path_factory.mktemp("ops"), GOPHERPAY_LOG_FORMAT="json") as running:
        yield running


@pytest.fixture(scope="module")
def http(daemon: RunningDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def ops(daemon: RunningDaemon, http: httpx.Client) -> Account:
    created = run_gopherpayd(
        daemon, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )
    assert created.returncode == 0, created.transcript()
    return Api(http).login(OPS_EMAIL, OPS_PASSWORD)


def samples(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    scraped = http.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def json_lines(daemon: RunningDaemon) -> list[dict[str, Any]]:
    """The log's JSON lines (the banner serve prints on start is plain text, not a log record)."""
    lines = []
    for line in daemon.log().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_metrics_count_requests_by_route_template_transfers_batches_and_login_failures(
    http: httpx.Client, ops: Account
) -> None:
    api = Api(http)
    before = samples(http)
    alice = api.signup(f"alice-{uuid.uuid4().hex[:8]}@example.com", password="alice-password-secret")
    bob = api.signup(f"bob-{uuid.uuid4().hex[:8]}@example.com", password="bob-password-secret")
    api.deposit(ops, alice.email, 10_000)
    assert api.transfer(alice, bob.email, 1_234).status_code == 201
    assert api.transfer(alice, bob.email, 1_000_000).status_code == 409  # insufficient funds
    wrong = http.post("/v1/auth/login", json={"email": alice.email, "password": "not-her-password"})
    assert wrong.status_code == 401
    transfer_id = str(uuid.uuid4())
    assert http.get(f"/v1/transfers/{transfer_id}", headers=alice.headers).status_code == 404
    assert http.get("/no/such/path/" + uuid.uuid4().hex).status_code == 404

    after = samples(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "gopherpay_http_requests_total"
    assert grew(requests, method="POST", route="/v1/transfers", status="201") == 1
    assert grew(requests, method="POST", route="/v1/transfers", status="409") == 1
    assert grew(requests, method="POST", route="/v1/auth/login", status="401") == 1
    assert grew(requests, method="POST", route="/v1/admin/deposits", status="201") == 1
    # The template, never the id as sent; a path no route matched is one label, not many.
    assert grew(requests, method="GET", route="/v1/transfers/{transfer_id}", status="404") == 1
    assert grew(requests, method="GET", route="unmatched", status="404") == 1
    latency = "gopherpay_http_request_duration_seconds_count"
    assert grew(latency, method="POST", route="/v1/transfers", status="201") == 1
    assert grew("gopherpay_login_failures_total", reason="refused") == 1
    # Deposit and transfer moved money; the refusal did not; each went in a batch of its own.
    assert grew("gopherpay_transfers_committed_total") == 2
    assert grew("gopherpay_movements_refused_total") == 1
    assert grew("gopherpay_writer_batch_size_count") == 3
    assert grew("gopherpay_writer_batch_size_sum") == 3
    # The event pipeline's gauges, computed on scrape (in-process delivery here).
    assert value(after, "gopherpay_events_status_up") == 1
    assert value(after, "gopherpay_dead_letters") == 0
    assert ("gopherpay_outbox_backlog", ()) in after
    assert ("gopherpay_outbox_oldest_unpublished_age_seconds", ()) in after

    text = http.get("/metrics").text
    for secret in (alice.email, alice.access_token, "alice-password-secret", transfer_id):
        assert secret not in text


def test_the_request_id_is_echoed_in_the_header_the_problem_and_the_log_lines(
    daemon: RunningDaemon, http: httpx.Client
) -> None:
    given = f"trace-{uuid.uuid4().hex[:12]}"
    refused = http.post(
        "/v1/auth/login",
        json={"email": "nobody@example.com", "password": "wrong-password"},
        headers={"X-Request-Id": given},
    )
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == given
    assert refused.json()["request_id"] == given

    fine = http.get("/healthz")
    assert HEX_ID.fullmatch(fine.headers["x-request-id"])
    # An id that could forge log lines or grow without bound is replaced by a new one.
    for insane in ("x" * 129, "two words", "semi;colon"):
        answered = http.get("/healthz", headers={"X-Request-Id": insane})
        assert HEX_ID.fullmatch(answered.headers["x-request-id"]), insane
    malformed = http.post(
        "/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["request_id"] == malformed.headers["x-request-id"]

    access = wait_until(
        lambda: next((line for line in json_lines(daemon) if line.get("request_id") == given), None),
        10,
        "the access line of the request",
    )
    assert access["logger"] == "gopherpayd.access"
    assert access["level"] == "info"
    assert (access["method"], access["path"], access["route"], access["status"]) == (
        "POST",
        "/v1/auth/login",
        "/v1/auth/login",
        401,
    )
    assert access["duration_ms"] >= 0
    assert access["client"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00", access["time"])


def test_every_log_line_is_json_and_no_access_line_carries_a_query_string(
    daemon: RunningDaemon, http: httpx.Client
) -> None:
    secret = "query-secret-" + uuid.uuid4().hex
    assert http.get("/healthz", params={"token": secret}).status_code == 200
    wait_until(
        lambda: any(line.get("path") == "/healthz" for line in json_lines(daemon)), 10, "an access line"
    )
    log = daemon.log()
    assert secret not in log
    records = [line for line in log.splitlines() if line.strip()]
    banner = [line for line in records if not line.startswith("{")]
    # Only serve's start-up banner (printed, not logged) is plain text.
    assert len(banner) == 1 and banner[0].startswith("gopherpayd "), banner
    for line in json_lines(daemon):
        assert {"time", "level", "logger", "message"} <= set(line), line
        if line["logger"] == "gopherpayd.access":
            assert HEX_ID.fullmatch(line["request_id"]) or line["request_id"].startswith("trace-"), line


def test_metrics_are_refused_to_addresses_outside_the_allow_list(tmp_path: Path) -> None:
    with (
        run_daemon(tmp_path / "elsewhere", GOPHERPAY_METRICS_ALLOW="192.0.2.0/24") as elsewhere,
        run_daemon(tmp_path / "off", GOPHERPAY_METRICS_ALLOW="") as off,
        run_daemon(tmp_path / "proxied", GOPHERPAY_TRUSTED_PROXIES="127.0.0.1") as proxied,
    ):
        refused = httpx.get(f"{elsewhere.url}/metrics", timeout=10)
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
        assert "GOPHERPAY_METRICS_ALLOW" in refused.json()["detail"]
        switched_off = httpx.get(f"{off.url}/metrics", timeout=10)
        assert (switched_off.status_code, switched_off.json()["code"]) == (404, "not_found")
        # Loopback is allowed, but not when it is a reverse proxy relaying someone else.
        assert httpx.get(f"{proxied.url}/metrics", timeout=10).status_code == 200
        relayed = httpx.get(f"{proxied.url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
        assert relayed.status_code == 403


def test_with_several_workers_every_scrape_counts_the_requests_of_all_of_them(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with run_daemon(tmp_path / "workers", extra_args=["--workers", "2"], TMPDIR=str(scratch)) as daemon:
        sent = 40
        for _ in range(sent):
            # A new connection each time, so the kernel hands requests to both workers.
            with httpx.Client(base_url=daemon.url, timeout=10) as fresh:
                assert fresh.get("/healthz").status_code == 200
        for _ in range(4):
            with httpx.Client(base_url=daemon.url, timeout=10) as fresh:
                found = samples(fresh)
            counted = value(
                found, "gopherpay_http_requests_total", method="GET", route="/healthz", status="200"
            )
            assert counted >= sent
        pids = {
            line.split("[")[-1].rstrip("]")
            for line in daemon.log().splitlines()
            if "Started server process" in line
        }
        assert len(pids) == 2, daemon.log()
        (shared,) = scratch.iterdir()  # the workers' one metrics directory
        assert shared.name.startswith("gopherpayd-metrics-")
        assert oct(shared.stat().st_mode & 0o777) == "0o700"
    assert list(scratch.iterdir()) == []  # removed when serve stopped
