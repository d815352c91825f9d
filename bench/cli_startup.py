"""CLI start-up: `gopherpay balance --json` against HTTPie fetching the same endpoint.

    .venv/bin/python -m bench.cli_startup              # 21 runs of each, interleaved
    .venv/bin/python -m bench.cli_startup --repeats 51 --json out.json

Starts `gopherpayd serve` on the embedded default (a SQLite file in a temporary data
dir), signs a user up, creates a read-only API token, then runs, one after the other
and `--repeats` times each, the two commands a script would run to read the balance:

    GOPHERPAY_TOKEN=gpt_... gopherpay --server URL balance --json
    http --ignore-stdin GET URL/v1/wallets 'Authorization:Bearer gpt_...'

Both get the same JSON from the same daemon with the same token, so the difference
is start-up and client overhead. The untimed first run of each warms the caches,
gopherpay's bytecode included (as an installed copy has it, even under
PYTHONDONTWRITEBYTECODE). It prints the median wall time of each and their
ratio, against issue 9's target (gopherpay at most 0.7 times HTTPie). A dev tool,
like the rest of bench/: no test asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TARGET_RATIO = 0.7
PASSWORD = "bench-password-long-enough"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tool(name: str) -> str:
    """The executable next to this Python (the venv's), else on the PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: {name} is not installed (pip install -e '.[dev]' installs httpie)")
    return found


@contextmanager
def running_daemon(workdir: Path) -> Iterator[str]:
    """`gopherpayd serve` on a SQLite file in `workdir`; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "GOPHERPAY_DATA_DIR": str(workdir / "data"),
        "GOPHERPAY_BCRYPT_ROUNDS": "10",
        "GOPHERPAY_REQUIRE_VERIFIED_EMAIL": "false",
    }
    env.pop("GOPHERPAY_DATABASE_URL", None)
    log = (workdir / "gopherpayd.log").open("w")
    daemon = subprocess.Popen(
        [tool("gopherpayd"), "serve", "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench: gopherpayd did not start; see {workdir / 'gopherpayd.log'}")
            time.sleep(0.1)
        yield url
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()


def read_token(url: str) -> str:
    """Sign a user up, open a USD wallet, and create a read-only API token for them."""
    email = "bench-startup@example.com"
    with httpx.Client(base_url=url, timeout=30) as client:
        signup = {"email": email, "full_name": "Bench Startup", "password": PASSWORD}
        client.post("/v1/auth/signup", json=signup).raise_for_status()
        login = client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        client.post("/v1/wallets", json={"currency": "USD"}, headers=headers).raise_for_status()
        created = client.post("/v1/tokens", json={"name": "bench", "scope": "read"}, headers=headers)
        created.raise_for_status()
        token: str = created.json()["token"]
        return token


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"bench: {command[0]} failed ({completed.returncode}): {completed.stderr.strip()}")
    return elapsed, completed.stdout


def measure(url: str, token: str, repeats: int) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GOPHERPAY_")}
    gopherpay = [tool("gopherpay"), "--server", url, "balance", "--json"]
    authorization = f"Authorization:Bearer {token}"
    httpie = [tool("http"), "--ignore-stdin", "--body", "GET", f"{url}/v1/wallets", authorization]
    cli_env = {**env, "GOPHERPAY_TOKEN": token}
    # One untimed run of each: the first start pays for cold caches (bytecode, page cache).
    # It may write bytecode even under PYTHONDONTWRITEBYTECODE: pip compiled HTTPie's modules
    # when it installed them, and an editable checkout of gopherpay would otherwise compile
    # its own afresh on every timed start, which no installed copy does.
    warm_up_env = {key: value for key, value in cli_env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    _, ours = timed(gopherpay, warm_up_env)
    _, theirs = timed(httpie, env)
    if json.loads(ours) != json.loads(theirs):
        raise SystemExit("bench: gopherpay and HTTPie got different answers")
    times: dict[str, list[float]] = {"gopherpay": [], "httpie": []}
    for _ in range(repeats):
        times["gopherpay"].append(timed(gopherpay, cli_env)[0])
        times["httpie"].append(timed(httpie, env)[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "repeats": repeats,
        "median_seconds": medians,
        "ratio": medians["gopherpay"] / medians["httpie"],
        "target_ratio": TARGET_RATIO,
        "times": times,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21, help="timed runs of each command (21)")
    parser.add_argument("--json", type=Path, help="also write every time as JSON to this file")
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gopherpay-startup-"))
    try:
        with running_daemon(workdir) as url:
            report = measure(url, read_token(url), options.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    medians = report["median_seconds"]
    verdict = "meets" if report["ratio"] <= TARGET_RATIO else "misses"
    print(f"gopherpay balance --json  median {medians['gopherpay'] * 1000:7.1f} ms  ({options.repeats} runs)")
    print(f"http GET /v1/wallets      median {medians['httpie'] * 1000:7.1f} ms  ({options.repeats} runs)")
    print(f"ratio {report['ratio']:.2f}x HTTPie: {verdict} the target of at most {TARGET_RATIO}x")
    if options.json:
        options.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
