"""`gopherpayd create-admin` and `gopherpayd set-role`, run as an operator runs them.

create-admin never hands an existing account to the operator by surprise: it refuses
unless told --promote-existing (confirmed at a terminal, or --yes), says what the
account was, refuses a password for a promotion, and audits what it did. set-role
undoes a promotion the same way. A password typed at a terminal is never echoed.
"""

from __future__ import annotations

import getpass
import os
import pty
import re
import select
import subprocess
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.identity.problems import assert_problem
from tests.support.api import DEFAULT_PASSWORD, Account, Api
from tests.support.daemon import daemon_env, executable

pytestmark = pytest.mark.e2e

OPS_PASSWORD = "ops-password-1"
CREATED = r"created \d{4}-\d\d-\d\d \d\d:\d\d UTC"
TTY_WAIT = 30.0


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


Gopherpayd = Callable[..., Run]


@pytest.fixture
def gopherpayd(database_url: str, tmp_path: Path) -> Gopherpayd:
    """`gopherpayd ARGS` against the test's database, stdin a pipe (not a terminal)."""
    env = daemon_env(tmp_path / "data", database_url)

    def run(*args: str, input: str = "") -> Run:
        done = subprocess.run(
            [executable("gopherpayd"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def role_of(client: TestClient, admin: Account, email: str) -> str:
    response = client.get("/v1/admin/users", params={"q": email}, headers=admin.headers)
    assert response.status_code == 200, response.text
    (user,) = [u for u in response.json()["items"] if u["email"] == email]
    return str(user["role"])


def audit_log(client: TestClient, admin: Account) -> list[dict[str, Any]]:
    response = client.get("/v1/admin/audit-log", headers=admin.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_create_admin_refuses_an_address_that_already_has_an_account(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    refused = gopherpayd(
        "create-admin", "--email", "bob@example.com", "--password-stdin", input="stolen-pass-1\n"
    )

    assert (refused.returncode, refused.stdout) == (1, "")
    assert re.fullmatch(
        r"gopherpayd: an account for bob@example\.com already exists \(role user, email not verified, "
        rf"not frozen, {CREATED}\); whoever signed up with that address chose its password\. To make "
        r"that account an admin anyway: "
        r"gopherpayd create-admin --email bob@example\.com --promote-existing\n",
        refused.stderr,
    ), refused.stderr
    assert role_of(client, admin, bob.email) == "user"
    assert Api(client).login(bob.email).access_token
    assert audit_log(client, admin) == []


def test_a_promotion_refuses_a_password_rather_than_ignore_it(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    refused = gopherpayd(
        "create-admin", "--email", bob.email, "--promote-existing", "--yes", "--password-stdin", input="x" * 9
    )

    assert refused.returncode == 2
    assert "--password-stdin cannot go with --promote-existing" in refused.stderr
    assert role_of(client, admin, bob.email) == "user"


def test_a_promotion_without_a_terminal_needs_yes(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    refused = gopherpayd("create-admin", "--email", bob.email, "--promote-existing")

    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        "gopherpayd: not confirmed: no terminal to ask on; pass --yes to confirm"
    )
    assert re.fullmatch(
        rf"bob@example\.com: role user, email not verified, not frozen, {CREATED}",
        refused.stderr.splitlines()[0],
    )
    assert role_of(client, admin, bob.email) == "user"


def test_promoting_with_yes_is_audited_as_done_at_the_console(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    promoted = gopherpayd(
        "create-admin",
        "--email",
        bob.email,
        "--promote-existing",
        "--yes",
        "--reason",
        "bob runs support now",
    )

    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stderr.splitlines()[-1] == (
        "bob@example.com now has the role admin (was user); recorded in the audit log"
    )
    assert role_of(client, admin, bob.email) == "admin"
    assert client.get("/v1/admin/users", headers=bob.headers).status_code == 200
    (entry,) = audit_log(client, admin)
    assert {k: entry[k] for k in ("actor_id", "actor_email", "action", "target", "reason")} == {
        "actor_id": None,
        "actor_email": f"gopherpayd (console, OS user {getpass.getuser()})",
        "action": "set_role",
        "target": f"user:{bob.user_id}",
        "reason": "bob runs support now",
    }
    assert entry["details"]["before"] == {
        "role": "user",
        "email_verified": False,
        "frozen": False,
        "created_at": entry["details"]["before"]["created_at"],
    }
    assert {k: entry["details"][k] for k in ("email", "role", "via", "command", "os_user")} == {
        "email": "bob@example.com",
        "role": "admin",
        "via": "gopherpayd console",
        "command": "create-admin --promote-existing",
        "os_user": getpass.getuser(),
    }


def test_set_role_undoes_a_promotion_and_the_admin_endpoints_close_at_once(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    assert gopherpayd("create-admin", "--email", bob.email, "--promote-existing", "--yes").returncode == 0

    demoted = gopherpayd("set-role", bob.email, "--role", "user", "--yes")

    assert demoted.returncode == 0, demoted.stderr
    assert (
        demoted.stderr.splitlines()[-1]
        == "bob@example.com now has the role user (was admin); recorded in the audit log"
    )
    assert role_of(client, admin, bob.email) == "user"
    assert_problem(client.get("/v1/admin/users", headers=bob.headers), 403, "forbidden")
    assert [
        (e["action"], e["details"]["before"]["role"], e["details"]["role"]) for e in audit_log(client, admin)
    ] == [
        ("set_role", "admin", "user"),
        ("set_role", "user", "admin"),
    ]


def test_set_role_to_the_role_an_account_has_changes_and_audits_nothing(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    same = gopherpayd("set-role", bob.email, "--role", "user", "--yes")

    assert same.returncode == 0
    assert same.stderr.startswith("bob@example.com already has the role user (")
    assert audit_log(client, admin) == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("set-role", "nobody@example.com", "--role", "admin", "--yes"),
            1,
            "gopherpayd: there is no account for nobody@example.com\n",
        ),
        (
            ("set-role", "bob@example.com", "--role", "root", "--yes"),
            2,
            "gopherpayd: --role must be user or admin, not 'root'\n",
        ),
        (
            ("create-admin", "--email", "nobody@example.com", "--promote-existing", "--yes"),
            1,
            "gopherpayd: there is no account for nobody@example.com to promote; "
            "drop --promote-existing to create one\n",
        ),
    ],
)
def test_role_commands_refuse_what_they_cannot_do(
    gopherpayd: Gopherpayd, bob: Account, args: tuple[str, ...], code: int, message: str
) -> None:
    refused = gopherpayd(*args)
    assert (refused.returncode, refused.stderr) == (code, message)


def test_a_new_admin_is_audited_too(client: TestClient, gopherpayd: Gopherpayd, admin: Account) -> None:
    created = gopherpayd(
        "create-admin", "--email", "ops2@example.com", "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )

    assert created.returncode == 0, created.stderr
    (entry,) = audit_log(client, admin)
    assert (entry["action"], entry["actor_id"], entry["details"]["command"]) == (
        "create_admin",
        None,
        "create-admin",
    )
    assert Api(client).login("ops2@example.com", OPS_PASSWORD).access_token


def test_create_admin_refuses_a_look_alike_address(gopherpayd: Gopherpayd) -> None:
    refused = gopherpayd(
        "create-admin", "--email", "\u0430dmin@example.com", "--password-stdin", input=f"{OPS_PASSWORD}\n"
    )

    assert refused.returncode == 1
    assert "mixes letters of several scripts (Cyrillic, Latin)" in refused.stderr


# --- at a terminal ------------------------------------------------------------------------


class Terminal:
    """`gopherpayd ARGS` with a pseudo-terminal as stdin, stdout and stderr."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.master, self.slave = pty.openpty()
        self.process = subprocess.Popen(
            [executable("gopherpayd"), *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            start_new_session=True,
        )
        self.seen = b""

    def read_until(self, pattern: bytes) -> bool:
        deadline = time.monotonic() + TTY_WAIT
        while pattern not in self.seen and time.monotonic() < deadline:
            self._read(0.1)
        return pattern in self.seen

    def wait_for_echo_off(self) -> bool:
        """Poll the terminal's mode until the program turned echo off (or give up)."""
        deadline = time.monotonic() + TTY_WAIT
        while termios.tcgetattr(self.slave)[3] & termios.ECHO and time.monotonic() < deadline:
            self._read(0.05)
        return not termios.tcgetattr(self.slave)[3] & termios.ECHO

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self) -> tuple[int, str]:
        returncode = self.process.wait(timeout=120)
        while self._read(0.2):
            pass
        os.close(self.master)
        os.close(self.slave)
        return returncode, self.seen.decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 4096)
        except OSError:
            return False
        self.seen += chunk
        return bool(chunk)


def test_a_password_typed_at_a_terminal_for_password_stdin_is_not_echoed(
    client: TestClient, database_url: str, tmp_path: Path, admin: Account
) -> None:
    terminal = Terminal(
        daemon_env(tmp_path / "data", database_url),
        "create-admin",
        "--email",
        "ops2@example.com",
        "--password-stdin",
    )
    echo_turned_off = terminal.wait_for_echo_off()
    terminal.type(f"{OPS_PASSWORD}\n")
    returncode, shown = terminal.finish()

    assert echo_turned_off, shown
    assert OPS_PASSWORD not in shown
    assert returncode == 0, shown
    assert "created admin ops2@example.com" in shown
    assert Api(client).login("ops2@example.com", OPS_PASSWORD).access_token


@pytest.mark.parametrize(("answer", "role"), [("y", "admin"), ("n", "user")])
def test_a_promotion_at_a_terminal_asks_first(
    client: TestClient,
    database_url: str,
    tmp_path: Path,
    admin: Account,
    bob: Account,
    answer: str,
    role: str,
) -> None:
    terminal = Terminal(
        daemon_env(tmp_path / "data", database_url),
        "create-admin",
        "--email",
        bob.email,
        "--promote-existing",
    )
    asked = terminal.read_until(b"Give bob@example.com the role admin? [y/N]: ")
    terminal.type(f"{answer}\n")
    returncode, shown = terminal.finish()

    assert asked, shown
    assert "role user, email not verified, not frozen" in shown
    assert (returncode, role_of(client, admin, bob.email)) == ((0, "admin") if answer == "y" else (1, "user"))
    assert len(audit_log(client, admin)) == (1 if answer == "y" else 0)


def test_the_cli_shows_a_console_action_in_the_audit_log(
    client: TestClient, gopherpayd: Gopherpayd, admin: Account, bob: Account
) -> None:
    from gopherpay_cli.views import show_audit_log  # the table `gopherpay admin audit-log` prints

    assert gopherpayd("set-role", bob.email, "--role", "admin", "--yes").returncode == 0
    shown: list[tuple[str, ...]] = []

    class Table:
        json_output = False

        def table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
            shown.extend(rows)

    show_audit_log(Table(), client.get("/v1/admin/audit-log", headers=admin.headers).json())  # type: ignore[arg-type]

    ((_, actor, action, target, reason, _),) = shown
    assert (actor, action, target, reason) == (
        f"gopherpayd (console, OS user {getpass.getuser()})",
        "set_role",
        f"user:{bob.user_id}",
        "role changed at the console",
    )
    assert DEFAULT_PASSWORD not in str(shown)


# --- arguments are checked before the database is touched: a clear message, exit 2 ----------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("set-role", "bob@example.com", "--role", "user", "--yes", "--reason", "r" * 501),
            "gopherpayd: --reason must be 1 to 500 characters (it has 501)\n",
        ),
        (
            ("set-role", "bob@example.com", "--role", "user", "--yes", "--reason", ""),
            "gopherpayd: --reason must be 1 to 500 characters (it has 0)\n",
        ),
        (
            ("create-admin", "--email", "ops@example.com", "--reason", "r" * 600),
            "gopherpayd: --reason must be 1 to 500 characters (it has 600)\n",
        ),
        (
            ("create-admin", "--email", "o" * 300 + "@example.com"),
            f"gopherpayd: --email {'o' * 300}@example.com is not a valid email address: "
            "it must be at most 254 characters (it has 312)\n",
        ),
        (
            ("create-admin", "--email", "not-an-email"),
            "gopherpayd: --email not-an-email is not a valid email address: "
            "An email address must have an @-sign.\n",
        ),
        (
            ("set-role", "\ufdfa@example.com", "--role", "user", "--yes"),
            "gopherpayd: \ufdfa@example.com is not a valid email address: this address is not valid "
            "once normalised (NFKC): it contains spaces\n",
        ),
    ],
    ids=[
        "set-role-long-reason",
        "set-role-empty-reason",
        "create-admin-long-reason",
        "long-email",
        "not-an-email",
        "nfkc-spaces",
    ],
)
def test_bad_console_arguments_exit_2_with_a_message_and_change_nothing(
    client: TestClient,
    gopherpayd: Gopherpayd,
    admin: Account,
    bob: Account,
    args: tuple[str, ...],
    message: str,
) -> None:
    refused = (
        gopherpayd(*args, "--password-stdin", input="ops-password-1\n")
        if args[0] == "create-admin"
        else gopherpayd(*args)
    )

    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", message)
    assert role_of(client, admin, bob.email) == "user"
    assert audit_log(client, admin) == []
