"""The Novu stand-in of the test suite in a process of its own, for the pipeline benchmark.

In the load generator's process the stand-in shared its GIL with the generator, and the
time it stamped on a trigger included waiting for that process's other threads. Here it has
the interpreter to itself. The parent talks to it over stdin/stdout, one line each way:
the child prints its URL first; `dump PATH` writes every trigger received so far as JSON
lines ({"transaction_id", "received_at"}) to PATH and answers `ok`; end of input stops it.

Run by `bench.pipeline` as `python -m bench.novu_process SECRET`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/novu_process.py`: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class NovuProcess:
    """The parent's handle: start(), url, received(), stop()."""

    def __init__(self, secret: str, workdir: Path) -> None:
        self.secret = secret
        self.workdir = workdir
        self.url = ""
        self._process: subprocess.Popen[str] | None = None
        self._dumps = 0

    def start(self) -> NovuProcess:
        root = Path(__file__).resolve().parent.parent
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.novu_process", self.secret],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._answer()
        return self

    def _answer(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the Novu stand-in process ended")
        return line.strip()

    def received(self) -> dict[str, datetime]:
        """Transaction id -> when the stand-in received its first trigger."""
        assert self._process is not None and self._process.stdin is not None
        self._dumps += 1
        path = self.workdir / f"novu-triggers-{self._dumps}.jsonl"
        self._process.stdin.write(f"dump {path}\n")
        self._process.stdin.flush()
        if self._answer() != "ok":
            raise RuntimeError("the Novu stand-in process did not dump its triggers")
        received: dict[str, datetime] = {}
        with path.open() as lines:
            for line in lines:
                item = json.loads(line)
                received.setdefault(item["transaction_id"], datetime.fromisoformat(item["received_at"]))
        path.unlink()
        return received

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _serve(secret: str) -> None:
    from tests.support.novu import NovuStandIn

    novu: Any = NovuStandIn(secret).start()
    try:
        print(novu.url, flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command != "dump":
                print(f"unknown command {command!r}", flush=True)
                continue
            with open(argument, "w") as out:
                for trigger in novu.triggers:
                    item = {
                        "transaction_id": trigger.transaction_id,
                        "received_at": trigger.received_at.isoformat(),
                    }
                    out.write(json.dumps(item) + "\n")
            print("ok", flush=True)
    finally:
        novu.stop()


if __name__ == "__main__":
    _serve(sys.argv[1])
