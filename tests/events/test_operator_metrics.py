"""`gopherpayd relay --metrics-port` and `gopherpayd worker --metrics-port`: the figures an
operator scrapes, and the /healthz a container runtime probes (compose.yaml uses it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.events.pipeline import Pipeline, running_pipeline, wait_until
from tests.support.daemon import free_port
from tests.support.services import ServiceProcess


def scrape(url: str) -> dict[str, float]:
    """The unlabelled samples of one scrape, by name."""
    answer = httpx.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if not sample.labels
    }


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Pipeline, str, str]]:
    """A pipeline whose relay and worker each serve metrics on a port of their own."""
    with running_pipeline(tmp_path, relays=0, workers=0) as pipeline:
        urls = []
        for kind in ("relay", "worker"):
            port = free_port()
            process = ServiceProcess(
                kind, pipeline.env, tmp_path / f"{kind}-metrics.log", args=["--metrics-port", str(port)]
            ).start()
            (pipeline.relays if kind == "relay" else pipeline.workers).append(process)
            urls.append(f"http://127.0.0.1:{port}")
        yield pipeline, urls[0], urls[1]


def test_relay_and_worker_serve_their_figures_and_a_health_check(watched: tuple[Pipeline, str, str]) -> None:
    pipeline, relay, worker = watched
    for url in (relay, worker):
        wait_until(f"{url}/healthz", lambda url=url: _healthy(url), timeout=60)

    ada, bob = pipeline.people("Ada", "Bob")
    pipeline.transfer(ada, bob, 1_234, "lunch")
    pipeline.wait_until_settled()

    for url in (relay, worker):
        figures = scrape(url)
        assert figures["gopherpay_events_status_up"] == 1
        assert figures["gopherpay_outbox_backlog"] == 0
        assert figures["gopherpay_kafka_consumer_lag"] == 0
        assert figures["gopherpay_dead_letters"] == 0
        assert figures["gopherpay_loop_last_round_timestamp_seconds"] > 0
    served = pipeline.client.get("/metrics")
    assert served.status_code == 200
    assert "gopherpay_kafka_consumer_lag 0.0" in served.text.splitlines()

    assert httpx.get(f"{relay}/nowhere", timeout=10).status_code == 404


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
