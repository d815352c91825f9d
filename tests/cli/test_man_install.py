"""`man gopherpay` works after `pip install`: the pages are installed below the prefix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def test_pip_install_puts_both_pages_where_man_finds_them(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            # Install beside, not instead of, the gopherpay of the running venv.
            "--ignore-installed",
            "--prefix",
            str(venv),
            str(REPOSITORY),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    # man derives its search path from PATH: <venv>/bin on PATH means <venv>/share/man.
    environment = {key: value for key, value in os.environ.items() if key != "MANPATH"}
    environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{environment.get('PATH', '')}"

    found = subprocess.run(
        ["man", "-w", "gopherpay", "gopherpayd"], capture_output=True, text=True, env=environment, timeout=60
    )

    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [
        str(venv / "share" / "man" / "man1" / "gopherpay.1"),
        str(venv / "share" / "man" / "man8" / "gopherpayd.8"),
    ]
