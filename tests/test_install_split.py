"""`pip install gopherpay` is the CLI alone; the daemon's packages come with the `daemon` extra.

A real install from this checkout into a new venv (its packages from PyPI), then the installed
programs: the CLI reaches for a daemon, and `gopherpayd` says which extra it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
DAEMON_DISTRIBUTIONS = {
    "fastapi",
    "uvicorn",
    "sqlmodel",
    "sqlalchemy",
    "psycopg",
    "alembic",
    "pydantic-settings",
    "bcrypt",
    "pyjwt",
    "confluent-kafka",
    "novu-py",
    "prometheus-client",
}


@pytest.fixture(scope="module")
def cli_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("cli-only") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPOSITORY)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return venv


def installed(venv: Path) -> set[str]:
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {item["name"].lower().replace("_", "-") for item in json.loads(listed.stdout)}


def test_the_daemon_extra_names_every_daemon_package_and_the_base_none() -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    names = {requirement.split(">")[0].split("[")[0].lower() for requirement in project["dependencies"]}
    extra = {
        requirement.split(">")[0].split("[")[0].lower()
        for requirement in project["optional-dependencies"]["daemon"]
    }
    assert names.isdisjoint(DAEMON_DISTRIBUTIONS)
    assert extra >= DAEMON_DISTRIBUTIONS
    assert "gopherpay[daemon]" in project["optional-dependencies"]["dev"]


def test_a_cli_only_install_has_none_of_the_daemons_packages(cli_only: Path) -> None:
    packages = installed(cli_only)
    assert "gopherpay" in packages
    assert {"typer", "httpx", "rich", "keyring"} <= packages
    assert packages.isdisjoint(DAEMON_DISTRIBUTIONS), packages & DAEMON_DISTRIBUTIONS


def test_the_cli_only_install_runs_the_cli_and_gopherpayd_names_the_extra(
    cli_only: Path, tmp_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOPHERPAY")}
    environment |= {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "GOPHERPAY_TOKEN": "gpt_x",
    }
    # Port 9 (discard) has no daemon: the CLI got as far as the network, with every import it needs.
    reached = subprocess.run(
        [str(cli_only / "bin" / "gopherpay"), "--server", "http://127.0.0.1:9", "api", "GET", "/v1/wallets"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert reached.returncode == 7, reached.stderr
    assert "Traceback" not in reached.stderr

    daemon = subprocess.run(
        [str(cli_only / "bin" / "gopherpayd"), "serve"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert daemon.returncode == 1
    assert "pip install 'gopherpay[daemon]'" in daemon.stderr
    assert "Traceback" not in daemon.stderr
