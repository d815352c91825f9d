"""The CLI start-up benchmark (bench/cli_startup.py) runs end to end; no speed is asserted."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_one_run_of_each_prints_both_medians_and_the_ratio(tmp_path: Path) -> None:
    report = tmp_path / "startup.json"

    result = subprocess.run(
        [sys.executable, "-m", "bench.cli_startup", "--repeats", "1", "--json", str(report)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"gopherpay balance --json  median +\d+\.\d ms  \(1 runs\)", lines[0])
    assert re.fullmatch(r"http GET /v1/wallets      median +\d+\.\d ms  \(1 runs\)", lines[1])
    assert re.fullmatch(r"ratio \d+\.\d\dx HTTPie: (meets|misses) the target of at most 0\.7x", lines[2])
    document = json.loads(report.read_text())
    assert [len(document["times"][name]) for name in ("gopherpay", "httpie")] == [1, 1]
    assert document["ratio"] == document["median_seconds"]["gopherpay"] / document["median_seconds"]["httpie"]
