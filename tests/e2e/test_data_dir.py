"""The embedded default's data directory and database are the daemon user's alone.

They hold password hashes, stored responses, verification codes and the signing
secret: the directory is 0700, the SQLite file and its -wal and -shm files 0600.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.api import Api
from tests.support.daemon import daemon_env, executable, run_daemon

pytestmark = pytest.mark.e2e

DATABASE_FILES = ["gopherpay.db", "gopherpay.db-shm", "gopherpay.db-wal"]


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


def gopherpayd(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [executable("gopherpayd"), *args],
        env=daemon_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_first_start_makes_the_data_directory_and_every_file_in_it_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "gopherpay"
    old_umask = os.umask(0o022)  # the usual one, whatever the test runner has
    try:
        with run_daemon(data_dir, log_dir=tmp_path) as daemon, httpx.Client(base_url=daemon.url) as http:
            Api(http).signup("alice@example.com")  # writes through the WAL
            files = {path.name: mode(path) for path in sorted(data_dir.iterdir())}
    finally:
        os.umask(old_umask)

    assert mode(data_dir) == "0700"
    assert files == {name: "0600" for name in [*DATABASE_FILES, "jwt-secret"]}


def test_an_existing_data_directory_and_database_open_to_others_are_made_private(tmp_path: Path) -> None:
    # As an earlier version left them: directory 0755, database 0644 (its WAL files follow it).
    data_dir = tmp_path / "gopherpay"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    database = data_dir / "gopherpay.db"
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE left_by_an_old_version (id INTEGER)")
    database.chmod(0o644)
    for name, text in [("jwt-secret", "x" * 64), ("gopherpayd.toml", 'novu_secret_key = "nv-secret"\n')]:
        (data_dir / name).write_text(text)
        (data_dir / name).chmod(0o644)

    migrated = gopherpayd(data_dir, "migrate")

    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stderr.splitlines()[0] == (
        f"gopherpayd: made the data directory {data_dir} private (mode 0700, it was 0755)"
    )
    assert mode(data_dir) == "0700"
    left = {path.name: mode(path) for path in data_dir.iterdir()}
    assert left == dict.fromkeys(left, "0600"), left
    # -wal and -shm are there or not, depending on how SQLite closed.
    assert (
        {"gopherpay.db", "jwt-secret", "gopherpayd.toml"}
        <= left.keys()
        <= {
            *DATABASE_FILES,
            "jwt-secret",
            "gopherpayd.toml",
        }
    )


def test_a_data_directory_shared_with_other_files_is_left_as_it_is_with_a_warning(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    (data_dir / "notes.txt").write_text("not gopherpay's\n")

    migrated = gopherpayd(data_dir, "migrate")

    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stderr.splitlines()[0] == (
        f"gopherpayd: warning: the data directory {data_dir} is open to other users (mode 0755) "
        f"and holds password hashes and secrets; run: chmod 700 {data_dir}"
    )
    assert mode(data_dir) == "0755"
    assert mode(data_dir / "gopherpay.db") == "0600"
