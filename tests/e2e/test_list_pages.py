"""Lists through the real executables and a real daemon: `sessions list --all` over several
pages, one page and its cursor, currencies paged without a login."""

from __future__ import annotations

import httpx
import pytest

from gopherpayd.wallets.currencies import CURRENCIES
from tests.e2e.helpers import Cli, CliFactory, sign_up, table
from tests.support.api import Api
from tests.support.daemon import RunningDaemon

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-enough-password"
EMAIL = "paige@example.com"
MORE_LOGINS = 204
"""With the sign-up's own, 205 sessions: more than the 200 the CLI asks for at a time."""


@pytest.fixture(scope="module")
def paige(daemon: RunningDaemon, new_cli: CliFactory) -> Cli:
    """Paige, logged in on her computer, and logged in 204 more times elsewhere."""
    cli: Cli = new_cli(daemon.url, "paige")
    sign_up(cli, EMAIL, "Paige Pager", PASSWORD)
    with httpx.Client(base_url=daemon.url, timeout=30) as client:
        api = Api(client)
        for _ in range(MORE_LOGINS):
            api.login(EMAIL, PASSWORD)
    return cli


def test_sessions_all_lists_every_session_of_every_page_once(paige: Cli) -> None:
    as_json = paige("sessions", "list", "--all", "--json")
    as_table = paige("sessions", "list", "--all")

    assert (as_json.returncode, as_table.returncode) == (0, 0), as_json.transcript()
    listed = as_json.json()
    ids = [session["id"] for session in listed["items"]]
    assert (len(ids), len(set(ids)), listed["next_cursor"]) == (205, 205, None)
    assert [session["current"] for session in listed["items"]] == [False] * 204 + [True]
    created = [session["created_at"] for session in listed["items"]]
    assert created == sorted(created, reverse=True)
    header, rows = table(as_table.stdout)
    assert header == ["id", "created", "last used", "status", "address", "client"]
    assert [row[0].removesuffix(" (this one)") for row in rows] == ids
    assert len(as_table.stdout_lines) == 1 + 205


def test_a_page_and_its_cursor_go_on_where_it_ended(paige: Cli) -> None:
    every = paige("sessions", "list", "--all", "--json").json()["items"]

    first = paige("sessions", "list", "--limit", "120", "--json")
    rest = paige("sessions", "list", "--cursor", first.json()["next_cursor"], "--limit", "200", "--json")

    assert (first.returncode, rest.returncode) == (0, 0), rest.transcript()
    assert first.json()["items"] == every[:120]
    assert rest.json() == {"items": every[120:], "next_cursor": None}


def test_currencies_page_a_to_z_without_a_login(daemon: RunningDaemon, new_cli: CliFactory) -> None:
    stranger: Cli = new_cli(daemon.url, "stranger")

    first = stranger("currencies", "--limit", "7", "--json")
    rest = stranger("currencies", "--cursor", first.json()["next_cursor"], "--all", "--json")

    assert (first.returncode, rest.returncode) == (0, 0), first.transcript()
    codes = [c["code"] for c in first.json()["items"] + rest.json()["items"]]
    assert codes == sorted(CURRENCIES)
    assert rest.json()["next_cursor"] is None
