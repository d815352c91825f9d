"""The metrics listener of relay and worker: /metrics, and /healthz fed by the loop's heartbeat."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.core import GaugeMetricFamily

from gopherpayd.kit.metrics import Liveness, Scrape, serve_metrics


class OneGauge:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("test_scraped_now", "computed at scrape", value=42)


@pytest.fixture
def listener() -> Iterator[tuple[str, Liveness]]:
    liveness = Liveness(max_silence=0.3)
    server = serve_metrics("127.0.0.1", 0, Scrape([OneGauge()]), lambda: liveness.alive)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", liveness
    finally:
        server.shutdown()
        server.server_close()


def test_healthz_is_ok_while_the_loop_beats_and_503_once_it_falls_silent(
    listener: tuple[str, Liveness],
) -> None:
    url, liveness = listener
    liveness.beat()
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    time.sleep(0.5)
    stalled = httpx.get(f"{url}/healthz")
    assert (stalled.status_code, stalled.json()) == (503, {"status": "stalled"})
    liveness.beat()
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_metrics_holds_the_process_figures_and_those_computed_on_scrape(
    listener: tuple[str, Liveness],
) -> None:
    url, liveness = listener
    liveness.beat()
    answer = httpx.get(f"{url}/metrics?ignored=1")
    assert answer.status_code == 200
    lines = answer.text.splitlines()
    assert "test_scraped_now 42.0" in lines
    beat = next(line for line in lines if line.startswith("gopherpay_loop_last_round_timestamp_seconds "))
    assert abs(float(beat.split()[1]) - time.time()) < 60
    assert any(line.startswith("# TYPE gopherpay_http_requests_total counter") for line in lines)
    assert httpx.get(f"{url}/other").status_code == 404
