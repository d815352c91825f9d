"""The scratch world of one benchmark run: a fresh Postgres database, the daemon on it, funded users.

Setup goes through the product's own paths, the way an operator and users would: `gopherpayd
migrate`, `gopherpayd create-admin`, then over HTTP sign-up, login, email verification (the code
opened from its outbox event with the daemon's secret, as the notification worker does), opening
a USD wallet, and an admin deposit. Setup speed is not measured.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from gopherpayd.identity.verification import SEALED_CODE_KEY, open_code
from gopherpayd.settings import Settings

POSTGRES_ADMIN_DSN = os.environ.get(
    "GOPHERPAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SCRIPTS = Path(__file__).parent / "scripts"
PASSWORD = "bench-password-" + "p" * 8
ADMIN_EMAIL = "bench-admin@example.com"
FUNDING_MINOR = 1_000_000_000
"""What each user starts with: 10,000,000.00 USD, so no transfer of 1 cent is ever refused."""
TOKEN_REFRESH_AFTER = 1800.0
"""Seconds after which the users log in again (their access tokens live 3600 s)."""


class BenchError(RuntimeError):
    """A benchmark that cannot go on; the message says why and what to do."""


def gopherpayd_executable() -> str:
    beside_python = Path(sys.executable).parent / "gopherpayd"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("gopherpayd")
    if found is None:
        raise BenchError("gopherpayd is not installed: .venv/bin/pip install -e '.[dev]'")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Account:
    email: str
    user_id: str
    token: str


@dataclass
class Scratch:
    """One run's database, daemon settings and accounts."""

    workdir: Path
    database: str
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    accounts: list[Account] = field(default_factory=list)
    admin_token: str = ""
    tokens_at: float = 0.0

    @property
    def url(self) -> str:
        """The database as the daemon takes it (SQLAlchemy URL)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}"

    @property
    def dsn(self) -> str:
        return POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.database}"

    @property
    def tokens_file(self) -> Path:
        return self.workdir / "tokens.txt"

    def environment(self) -> dict[str, str]:
        """The daemon's environment: only this run's GOPHERPAY_* settings, production defaults
        otherwise (bcrypt at the production minimum, since it only costs setup time)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOPHERPAY_", "GOPHERPAYD_"))}
        env |= {
            "GOPHERPAY_DATABASE_URL": self.url,
            "GOPHERPAY_DATA_DIR": str(self.workdir / "data"),
            "GOPHERPAYD_CONFIG": str(self.workdir / "gopherpayd.toml"),
            "GOPHERPAY_JWT_SECRET": self.jwt_secret,
            "GOPHERPAY_BCRYPT_ROUNDS": "10",
            "GOPHERPAY_ACCESS_TOKEN_TTL": "3600",
            "GOPHERPAY_SIGNUP_MAX_PER_ADDRESS": "1000000",
        }
        return env

    backend = "postgres"

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, autocommit=True)

    def fetch_one(self, query: str, params: tuple[object, ...] = ()) -> tuple[Any, ...] | None:
        """One row of a query written with %s placeholders (autocommit)."""
        with self.connect() as connection:
            # Without parameters, a literal % (LIKE 'x-%') must not be read as a placeholder.
            return connection.execute(query, params or None).fetchone()

    def scalar(self, query: str, params: tuple[object, ...] = ()) -> int:
        row = self.fetch_one(query, params)
        assert row is not None
        value = row[0]
        assert isinstance(value, int)
        return value


@dataclass
class SqliteScratch(Scratch):
    """The embedded default: no database configured, so the daemon keeps its SQLite file in
    its data dir (`<workdir>/data/gopherpay.db`). `database` is that file's path."""

    backend = "sqlite"

    @property
    def path(self) -> Path:
        return self.workdir / "data" / "gopherpay.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def dsn(self) -> str:
        return str(self.path)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        del env["GOPHERPAY_DATABASE_URL"]
        return env

    @contextmanager
    def _sqlite(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            yield connection
        finally:
            connection.close()

    def fetch_one(self, query: str, params: tuple[object, ...] = ()) -> tuple[Any, ...] | None:
        with self._sqlite() as connection:
            row: tuple[Any, ...] | None = connection.execute(query.replace("%s", "?"), params).fetchone()
            return row


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_DSN}: {error}") from error


def create_sqlite(workdir: Path) -> SqliteScratch:
    """A world for the embedded default: its own workdir, data dir and tokens file."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SqliteScratch(workdir=workdir, database="")


def create_database(workdir: Path) -> Scratch:
    name = f"gopherpay_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin_connection() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Scratch(workdir=workdir, database=name)


def drop_database(scratch: Scratch) -> None:
    with _admin_connection() as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{scratch.database}" WITH (FORCE)')


def gopherpayd(scratch: Scratch, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        [gopherpayd_executable(), *args],
        env=scratch.environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"gopherpayd {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


class Daemon:
    """`gopherpayd serve` on the scratch database, on a free port, logging to a file."""

    def __init__(self, scratch: Scratch, log_name: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch.workdir / log_name
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [gopherpayd_executable(), "serve", "--port", str(self.port)],
            env=scratch.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gopherpayd serve exited ({self.process.returncode}); see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"gopherpayd serve was not ready within {timeout:.0f} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the daemon process so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response


def _login(client: httpx.Client, email: str) -> tuple[str, str]:
    answer = _check(
        client.post("/v1/auth/login", json={"email": email, "password": PASSWORD}), f"login {email}"
    )
    body = answer.json()
    return str(body["access_token"]), str(body["user"]["id"])


def _sealed_code(scratch: Scratch, user_id: str) -> str:
    import json

    row = scratch.fetch_one(
        "SELECT payload FROM outbox WHERE aggregate_key = %s AND event_type = 'user.email_verification' "
        "ORDER BY user_seq DESC LIMIT 1",
        (user_id,),
    )
    if row is None:
        raise BenchError(f"no verification event for user {user_id}")
    return str(json.loads(str(row[0]))[SEALED_CODE_KEY])


def _make_user(scratch: Scratch, daemon: Daemon, index: int, settings: Settings) -> Account:
    email = f"bench-user-{index:05d}@example.com"
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        signup = {"email": email, "full_name": f"Bench User {index}", "password": PASSWORD}
        _check(client.post("/v1/auth/signup", json=signup), f"sign-up {email}")
        token, user_id = _login(client, email)
        auth = {"Authorization": f"Bearer {token}"}
        code = open_code(settings, user_id, _sealed_code(scratch, user_id))
        _check(client.post("/v1/auth/verify-email", json={"code": code}, headers=auth), f"verify {email}")
        _check(client.post("/v1/wallets", json={"currency": "USD"}, headers=auth), f"open wallet {email}")
        deposit = {"user": email, "amount": FUNDING_MINOR, "currency": "USD", "reason": "bench funding"}
        headers = {"Authorization": f"Bearer {scratch.admin_token}", "Idempotency-Key": f"fund-{index}"}
        _check(client.post("/v1/admin/deposits", json=deposit, headers=headers), f"deposit for {email}")
    return Account(email=email, user_id=user_id, token=token)


def populate(scratch: Scratch, users: int) -> None:
    """Migrate, create the operator, and `users` verified, funded users; write the tokens file."""
    gopherpayd(scratch, "migrate")
    gopherpayd(scratch, "create-admin", "--email", ADMIN_EMAIL, "--password-stdin", stdin=PASSWORD + "\n")
    daemon = Daemon(scratch, "serve-setup.log")
    try:
        with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
            scratch.admin_token, _ = _login(client, ADMIN_EMAIL)
        settings = Settings(jwt_secret=scratch.jwt_secret, database_url=scratch.url, data_dir=scratch.workdir)
        with ThreadPoolExecutor(max_workers=4) as pool:
            scratch.accounts = list(
                pool.map(lambda i: _make_user(scratch, daemon, i, settings), range(users))
            )
        scratch.tokens_at = time.monotonic()
    finally:
        daemon.stop()
    if scratch.backend == "postgres":
        with scratch.connect() as connection:
            connection.execute((SCRIPTS / "setup.sql").read_text())
    write_tokens(scratch)


def write_tokens(scratch: Scratch) -> None:
    """One `token<TAB>email` line per user, readable only by us (the load generators read it)."""
    fd = os.open(scratch.tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{a.token}\t{a.email}\n" for a in scratch.accounts)


def refresh_tokens(scratch: Scratch, daemon: Daemon) -> None:
    """Log everyone in again when their access tokens are getting old (long runs)."""
    if time.monotonic() - scratch.tokens_at < TOKEN_REFRESH_AFTER:
        return
    with httpx.Client(base_url=daemon.base_url, timeout=60) as client:
        scratch.admin_token, _ = _login(client, ADMIN_EMAIL)
        for account in scratch.accounts:
            account.token, _ = _login(client, account.email)
    scratch.tokens_at = time.monotonic()
    write_tokens(scratch)


def audit(scratch: Scratch, daemon: Daemon) -> dict[str, object]:
    """The product's own ledger audit (GET /v1/admin/audit), as an operator runs it."""
    headers = {"Authorization": f"Bearer {scratch.admin_token}"}
    answer = _check(httpx.get(f"{daemon.base_url}/v1/admin/audit", headers=headers, timeout=300), "audit")
    body: dict[str, object] = answer.json()
    return body


def setting_in_force(scratch: Scratch, name: str) -> str:
    """A daemon setting as `gopherpayd serve` resolves it from this world's environment and
    config file (asked of the product's own Settings in a child process with that environment)."""
    code = f"from gopherpayd.settings import Settings; print(Settings().{name})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=scratch.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"could not read the daemon setting {name}: {done.stderr.strip()}")
    return done.stdout.strip()
