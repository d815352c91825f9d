"""A Python load generator for POST /v1/transfers, run as its own process.

`closed`: `--connections` clients, each sending its next request when the last one answered
(what wrk does), except that at the deadline it stops sending and waits for the answers still
in flight, so every transfer the daemon committed was counted. The fallback when wrk is
missing (`--load python`), and what the tool's own test uses.

`open`: requests at a fixed rate (`--rate` per second, evenly spaced) whatever the answers do,
latency measured from when each request was due (so a slow answer delays no later request and
hides nothing: no coordinated omission), over hand-spoken keep-alive HTTP/1.1 connections
(`RawConnections`), cheap enough not to fall behind. wrk2 would do this; it is not installable here.

`--hot SHARE`: that share of the transfers credits the first user of the tokens file (one hot
wallet), the rest goes between users drawn uniformly. `--bulk N`: each request is a
POST /v1/transfers/batch of N independent items from one sender, each with its own key;
`created` then counts items answered 201, and `missing` the answers 404/405 (an endpoint
this daemon does not have). `--movement NAME` (closed loop): each client runs that movement's
operations one after the other (`CYCLES`; holds: place a hold, then capture all of it; fx: ask
for a USD->EUR quote, then execute it), every request under a key of its own; `created` then
counts operations done, `started` those whose first request was answered 201, and latency is
per request (as wrk's).

Prints one JSON object on stdout, with the same fields as transfer.lua's BENCH-JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
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


MISSING = (404, 405)


class Tally:
    def __init__(self, *, bulk: bool = False) -> None:
        self.bulk = bulk
        self.latencies_ms: list[float] = []
        self.statuses: dict[int, int] = {}
        self.item_statuses: dict[int, int] = {}
        self.socket_errors = 0
        self.started = 0
        """Movement operations whose first request was answered 201."""
        self.operations: int | None = None
        """Movement operations done (None: not a movement run, `created` counts 201s)."""

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
        missing = sum(counts.get(status, 0) for status in MISSING)
        # A bulk request is fine when answered 200; its items are counted like single requests.
        fine = 200 if self.bulk else 201
        items = self.item_statuses if self.bulk else counts
        return {
            "duration_s": duration,
            "responses": sum(counts.values()),
            "created": items.get(201, 0) if self.operations is None else self.operations,
            "started": self.started,
            "missing": missing,
            "client_errors": sum(n for s, n in counts.items() if 400 <= s < 500 and s not in MISSING)
            + sum(n for s, n in self.item_statuses.items() if s >= 400),
            "server_errors": sum(n for s, n in counts.items() if s >= 500),
            "other": sum(n for s, n in counts.items() if s < 400 and s != fine)
            + sum(n for s, n in self.item_statuses.items() if s < 400 and s != 201),
            "socket_errors": self.socket_errors,
            "timeouts": 0,
            "p50_ms": percentile(50),
            "p90_ms": percentile(90),
            "p99_ms": percentile(99),
            "max_ms": ordered[-1],
            "mean_ms": sum(ordered) / len(ordered),
        }


class Sender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: list[tuple[str, str]],
        tag: str,
        *,
        hot: float = 0.0,
        bulk: int = 0,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.tag = tag
        self.counter = 0
        self.hot = hot
        self.bulk = bulk

    def pair(self) -> tuple[int, int]:
        """(sender, recipient): the hot user (index 0) receives `hot` of all transfers."""
        # The load's shape, not a secret: the module's generator is what S311 warns of, and fine.
        if self.hot and random.random() < self.hot:  # noqa: S311
            return random.randrange(1, len(self.tokens)), 0  # noqa: S311
        sender, recipient = random.sample(range(len(self.tokens)), 2)
        return sender, recipient

    def next_transfer(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The next POST /v1/transfers: its body and headers, under a key of its own."""
        self.counter += 1
        sender, recipient = self.pair()
        token, _ = self.tokens[sender]
        body = {"amount": 1, "currency": "USD", "to_email": self.tokens[recipient][1], "memo": "bench"}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{self.tag}-{self.counter}"}
        return body, headers

    async def send(self, tally: Tally, started: float) -> None:
        if self.bulk:
            await self.send_batch(tally, started)
            return
        body, headers = self.next_transfer()
        try:
            response = await self.client.post("/v1/transfers", json=body, headers=headers)
        except httpx.HTTPError:
            tally.record(None, started)
            return
        tally.record(response.status_code, started)

    async def send_batch(self, tally: Tally, started: float) -> None:
        self.counter += 1
        sender = random.randrange(len(self.tokens))  # noqa: S311
        items = []
        for index in range(self.bulk):
            recipient = random.randrange(len(self.tokens) - 1)  # noqa: S311
            recipient += recipient >= sender
            key = f"{self.tag}-{self.counter}-{index}"
            items.append(
                {
                    "key": key,
                    "amount": 1,
                    "currency": "USD",
                    "to_email": self.tokens[recipient][1],
                    "memo": "bench",
                }
            )
        headers = {"Authorization": f"Bearer {self.tokens[sender][0]}"}
        body = {"mode": "independent", "items": items}
        try:
            response = await self.client.post("/v1/transfers/batch", json=body, headers=headers)
        except httpx.HTTPError:
            tally.record(None, started)
            return
        tally.record(response.status_code, started)
        if response.status_code == 200:
            for result in response.json()["results"]:
                status = int(result["status"])
                tally.item_statuses[status] = tally.item_statuses.get(status, 0) + 1

    async def post_step(
        self, tally: Tally, path: str, body: dict[str, Any], token: str
    ) -> dict[str, Any] | None:
        """One request of a movement operation, under a key of its own: its answer when 201."""
        self.counter += 1
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{self.tag}-{self.counter}"}
        started = time.perf_counter()
        try:
            response = await self.client.post(path, json=body, headers=headers)
        except httpx.HTTPError:
            tally.record(None, started)
            return None
        tally.record(response.status_code, started)
        if response.status_code != 201:
            return None
        answer: dict[str, Any] = response.json()
        return answer

    async def hold_and_capture(self, tally: Tally) -> None:
        """One operation of the holds leg: a hold of 1 cent for another user (memo: the run's
        tag, so its rows can be found), then one capture of all of it by the same payer."""
        payer, payee = self.pair()
        token = self.tokens[payer][0]
        hold = {"amount": 1, "currency": "USD", "to": self.tokens[payee][1], "expires_in": 86400}
        placed = await self.post_step(tally, "/v1/holds", hold | {"memo": self.tag}, token)
        if placed is None:
            return
        tally.started += 1
        if await self.post_step(tally, f"/v1/holds/{placed['id']}/capture", {}, token) is not None:
            tally.operations = (tally.operations or 0) + 1

    async def quote_and_exchange(self, tally: Tally) -> None:
        """One operation of the FX leg: a USD->EUR quote of a small amount (`fx_sell_amount`),
        then its execution between the user's own wallets (memo: the run's tag, so the
        exchange can be found; the EUR wallet is opened by the first one)."""
        user = random.randrange(len(self.tokens))  # noqa: S311
        token = self.tokens[user][0]
        ask = {"sell": "USD", "buy": "EUR", "sell_amount": fx_sell_amount(user)}
        quote = await self.post_step(tally, "/v1/fx/quotes", ask, token)
        if quote is None:
            return
        tally.started += 1
        execute = {"quote_id": quote["quote_id"], "memo": self.tag}
        if await self.post_step(tally, "/v1/fx/exchange", execute, token) is not None:
            tally.operations = (tally.operations or 0) + 1


FX_SELL_AMOUNT = 100
"""The first user's quote, in USD minor units: 1.00 USD, which buys 0.91 EUR after a 1-cent fee
at the leg's rate (bench/movements.py FX_RATE, FX_SPREAD), far from fx_amount_too_small."""


def fx_sell_amount(user_index: int) -> int:
    """What the user at `user_index` of the tokens file sells in each quote: one cent more than
    the user before, so that the quote's answer (which names no user) says whose quote it is
    (bench/scripts/fx.lua reads it back)."""
    return FX_SELL_AMOUNT + user_index


Cycle = Callable[[Sender, Tally], Awaitable[None]]
CYCLES: dict[str, Cycle] = {"holds": Sender.hold_and_capture, "fx": Sender.quote_and_exchange}
"""One operation of each movement leg (bench/movements.py), as one client runs it."""


async def closed_loop(
    sender: Sender, connections: int, seconds: float, cycle: Cycle | None = None
) -> dict[str, Any]:
    tally = Tally(bulk=bool(sender.bulk))
    if cycle is not None:
        tally.operations = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def client_loop() -> None:
        while time.perf_counter() < deadline:
            if cycle is not None:
                await cycle(sender, tally)
            else:
                await sender.send(tally, time.perf_counter())

    await asyncio.gather(*(client_loop() for _ in range(connections)))
    return tally.summary(time.perf_counter() - start)


class RawConnections:
    """Keep-alive HTTP/1.1 connections spoken by hand: a request is bytes built beforehand and
    the answer is its status line, headers and Content-Length body. An httpx request costs a
    few ms of CPU; on two cores shared with the daemon, that made the open loop fall behind
    its own schedule and measure its backlog instead of the daemon's latency."""

    def __init__(self, url: str, width: int) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.width = width
        self.opened = 0
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def _take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not self.idle.empty() or self.opened >= self.width:
            return await self.idle.get()
        self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.opened -= 1
            raise

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status; the connection goes back to the pool unless the server closes it."""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Content-Type: application/json"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        reader, writer = await self._take()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, closing = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    closing = True
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            self.opened -= 1
            raise
        if closing:
            writer.close()
            self.opened -= 1
        else:
            self.idle.put_nowait((reader, writer))
        return status


async def open_loop(sender: Sender, url: str, rate: float, seconds: float) -> dict[str, Any]:
    """Requests due at evenly spaced instants; each one's latency counts from when it was due."""
    tally = Tally()
    connections = RawConnections(url, OPEN_LOOP_CONNECTIONS)

    async def send(due: float) -> None:
        body, headers = sender.next_transfer()
        try:
            status: int | None = await connections.post("/v1/transfers", json.dumps(body).encode(), headers)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = None
        tally.record(status, due)

    start = time.perf_counter()
    tasks = []
    for index in range(max(1, int(rate * seconds))):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(due)))
    await asyncio.gather(*tasks)
    return tally.summary(time.perf_counter() - start)


OPEN_LOOP_CONNECTIONS = 256
"""At most this many requests in flight in the open loop; later ones wait for a connection
(and their wait counts in their latency)."""


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    tokens = read_tokens(args.tokens)
    width = args.connections if args.mode == "closed" else 1
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=120) as client:
        sender = Sender(client, tokens, args.tag, hot=args.hot, bulk=args.bulk)
        if args.mode == "closed":
            cycle = CYCLES[args.movement] if args.movement else None
            return await closed_loop(sender, args.connections, args.seconds, cycle)
        return await open_loop(sender, args.url, args.rate, args.seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--tag", required=True, help="Idempotency-Key prefix, unique per run")
    parser.add_argument("--mode", choices=["closed", "open"], default="closed")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second (open)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--hot", type=float, default=0.0, help="share of transfers to the first user")
    parser.add_argument("--bulk", type=int, default=0, help="items per POST /v1/transfers/batch (closed)")
    parser.add_argument("--movement", choices=sorted(CYCLES), help="a movement leg's operations (closed)")
    print(json.dumps(asyncio.run(generate(parser.parse_args(argv)))))


if __name__ == "__main__":
    main()
