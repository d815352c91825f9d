"""The data directory and the SQLite file: readable by the daemon's user only.

They hold password hashes, stored responses, verification codes and the token
signing secret. SQLite creates a database with the umask's mode (0644 as a rule)
and gives its -wal and -shm files the mode of the database file, so the file is
created 0600 before SQLite opens it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
OWN_ENTRIES = frozenset(
    {
        "gopherpay.db",
        *(f"gopherpay.db{suffix}" for suffix in SQLITE_COMPANIONS),
        "jwt-secret",
        "gopherpayd.toml",
    }
)
"""What gopherpayd keeps in its data directory: a directory holding only these is its own."""


def secure_data_dir(path: Path) -> str | None:
    """Create `path` with mode 0700, or tighten an existing one that holds only gopherpay's files
    (and make those files 0600: the config file may hold secrets too).

    Answers a message for the operator when it tightened the directory or could not.
    A directory that holds other files too may be shared on purpose, so it is left as
    it is, with a warning.
    """
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
        return None
    for name in OWN_ENTRIES:
        _tighten(path / name)
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    others = sorted(entry.name for entry in path.iterdir() if entry.name not in OWN_ENTRIES)
    if not others:
        try:
            path.chmod(PRIVATE_DIR_MODE)
        except OSError:
            pass
        else:
            return f"made the data directory {path} private (mode 0700, it was {mode:04o})"
    return (
        f"warning: the data directory {path} is open to other users (mode {mode:04o}) and holds "
        f"password hashes and secrets; run: chmod 700 {path}"
    )


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database or another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file of `url` with mode 0600 before SQLite does; tighten an existing
    one and its -wal, -shm and -journal files."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # a missing directory or no permission: SQLite says so itself when it opens it
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        _tighten(candidate)


def _tighten(path: Path) -> None:
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
    except OSError:
        pass  # not there (no -wal yet) or not ours
