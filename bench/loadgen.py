"""A Python load generator for POST /v1/transfers, run as its own process.

`closed`: `--connections` clients, each sending its next request when the last one answered
(what wrk does), except that at the deadline it stops sending and waits for the answers still
in flight, so every transfer the daemon committed was counted. The fallback when wrk is
missing (`--load python`), and what the tool's own test uses.

`open`: requests at a fixed rate (`--rate` per second, evenly spaced) whatever the answers do,
latency measured from when each request was due (so a slow answer delays no later request and
hides nothing: no coordinated omission). wrk2 would do this; it is not installable here.

Prints one JSON object on stdout, with the same fields as transfer.lua's BENCH-JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx


def read_tokens(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text().splitlines():
        token, _, email = line.partition("\t")
        if token and email:
            pairs.append((token, email))
    return pairs


class Tally:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.statuses: dict[int, int] = {}
        self.socket_errors = 0

    def record(self, status: int | None, started: float) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status is None:
            self.socket_errors += 1
        else:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self, duration: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms) or [0.0]

        def percentile(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

        counts = self.statuses
        return {
            "duration_s": duration,
            "responses": sum(counts.values()),
            "created": counts.get(201, 0),
            "client_errors": sum(n for s, n in counts.items() if 400 <= s < 500),
            "server_errors": sum(n for s, n in counts.items() if s >= 500),
            "other": sum(n for s, n in counts.items() if s < 400 and s != 201),
            "socket_errors": self.socket_errors,
            "timeouts": 0,
            "p50_ms": percentile(50),
            "p90_ms": percentile(90),
            "p99_ms": percentile(99),
            "max_ms": ordered[-1],
            "mean_ms": sum(ordered) / len(ordered),
        }


class Sender:
    def __init__(self, client: httpx.AsyncClient, tokens: list[tuple[str, str]], tag: str) -> None:
        self.client = client
        self.tokens = tokens
        self.tag = tag
        self.counter = 0

    async def send(self, tally: Tally, started: float) -> None:
        self.counter += 1
        sender, recipient = random.sample(range(len(self.tokens)), 2)
        token, _ = self.tokens[sender]
        body = {"amount": 1, "currency": "USD", "to_email": self.tokens[recipient][1], "memo": "bench"}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{self.tag}-{self.counter}"}
        try:
            response = await self.client.post("/v1/transfers", json=body, headers=headers)
        except httpx.HTTPError:
            tally.record(None, started)
            return
        tally.record(response.status_code, started)


async def closed_loop(sender: Sender, connections: int, seconds: float) -> dict[str, Any]:
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            await sender.send(tally, time.perf_counter())

    await asyncio.gather(*(client_loop() for _ in range(connections)))
    return tally.summary(time.perf_counter() - start)


async def open_loop(sender: Sender, rate: float, seconds: float) -> dict[str, Any]:
    tally = Tally()
    start = time.perf_counter()
    tasks = []
    for index in range(max(1, int(rate * seconds))):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(sender.send(tally, due)))
    await asyncio.gather(*tasks)
    return tally.summary(time.perf_counter() - start)


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    tokens = read_tokens(args.tokens)
    width = args.connections if args.mode == "closed" else 256
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=120) as client:
        sender = Sender(client, tokens, args.tag)
        if args.mode == "closed":
            return await closed_loop(sender, args.connections, args.seconds)
        return await open_loop(sender, args.rate, args.seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--tag", required=True, help="Idempotency-Key prefix, unique per run")
    parser.add_argument("--mode", choices=["closed", "open"], default="closed")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (open)")
    parser.add_argument("--seconds", type=float, default=5.0)
    print(json.dumps(asyncio.run(generate(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
