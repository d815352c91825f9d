"""The embedded default delivers the in-app inbox with no broker at all.

`gopherpayd serve` with no GOPHERPAY_KAFKA_BOOTSTRAP hands its own outbox rows to
the notification handler in-process: on the one-command default (a SQLite file,
no GOPHERPAY_DATABASE_URL) and on Postgres alike. Two people sign up with the
real CLI, one is funded, they pay each other, and each inbox then holds exactly
one entry per event that concerns its owner, seen over the API and the CLI.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from gopherpayd.identity.verification import open_code
from gopherpayd.kit.db import Database
from gopherpayd.outbox.models import OutboxEvent
from gopherpayd.settings import Settings
from tests.e2e.helpers import Cli, Operator, run_gopherpayd, sign_up, table
from tests.events.live import postgres_database, wait_until
from tests.support.api import Api
from tests.support.daemon import RunningDaemon, run_daemon

pytestmark = pytest.mark.e2e

OPS_EMAIL, OPS_PASSWORD = "ops@example.com", "ops-password-1"
SETTLES_WITHIN = 3.0
"""Seconds from the last transfer's answer until every inbox entry is there."""


@dataclass
class World:
    daemon: RunningDaemon
    db: Database
    operator: Operator
    people: dict[str, Cli]
    settled_in: float

    def inbox(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """GET /v1/notifications with the token the person's CLI keeps (a new login would
        itself be an event)."""
        stored = self.people[name].stored_login()
        assert stored is not None
        headers = {"Authorization": f"Bearer {stored['access_token']}"}
        response = httpx.get(f"{self.daemon.url}/v1/notifications", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def daemon_settings(daemon: RunningDaemon) -> dict[str, Any]:
    """What Settings needs to find the daemon's secret (generated in its data directory)."""
    return {"environment": "test", "data_dir": daemon.env["GOPHERPAY_DATA_DIR"], "bcrypt_rounds": 4}


def new_person(tmp_path_factory: pytest.TempPathFactory, daemon: RunningDaemon, name: str) -> Cli:
    cli = Cli(tmp_path_factory.mktemp(f"home-{name}"), daemon.url)
    sign_up(cli, f"{name}@example.com", name.title(), f"{name}-password")
    return cli


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgres":
            database_url = stack.enter_context(postgres_database("embedded"))
        data_dir = tmp_path_factory.mktemp(f"gopherpayd-{request.param}")
        daemon = stack.enter_context(run_daemon(data_dir, database_url))
        assert "GOPHERPAY_KAFKA_BOOTSTRAP" not in daemon.env
        created = run_gopherpayd(
            daemon, "create-admin", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n"
        )
        assert created.returncode == 0, created.transcript()
        db = Database(database_url or f"sqlite:///{data_dir / 'gopherpay.db'}")
        stack.callback(db.dispose)
        http = stack.enter_context(httpx.Client(base_url=daemon.url, timeout=30))
        world = World(daemon, db, Operator(Api(http), OPS_EMAIL, OPS_PASSWORD), {}, 0.0)
        alice = world.people["alice"] = new_person(tmp_path_factory, daemon, "alice")
        bob = world.people["bob"] = new_person(tmp_path_factory, daemon, "bob")
        world.operator.deposit("alice@example.com", 10_000)
        for payer, amount, payee, memo in ((alice, "12.34", "bob", "lunch"), (bob, "2.50", "alice", "")):
            paid = payer("transfer", "--yes", amount, "USD", "--to", f"{payee}@example.com", "--memo", memo)
            assert paid.returncode == 0, paid.transcript()
        answered = time.monotonic()
        wait_until(
            lambda: len(world.inbox("alice")) == 4 and len(world.inbox("bob")) == 3,
            SETTLES_WITHIN,
            "every inbox entry",
        )
        world.settled_in = time.monotonic() - answered
        yield world


def entries(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(n["type"], n["title"], n["body"]) for n in items]


def test_each_event_lands_once_in_the_inbox_of_the_person_it_concerns(world: World) -> None:
    print(f"inbox complete {world.settled_in:.2f}s after the last transfer")
    assert entries(world.inbox("alice")) == [
        ("transfer.received", "You received 2.50 USD", "From bob@example.com. New balance: 90.16 USD."),
        ("transfer.sent", "You sent 12.34 USD", "To bob@example.com — lunch. New balance: 87.66 USD."),
        (
            "wallet.deposit",
            "Deposit of 100.00 USD",
            "Money arrived from outside GopherPay — test funding. New balance: 100.00 USD.",
        ),
        # The CLI's login right after sign-up is the account's first: no new-login alert.
        ("user.signed_up", "Welcome to GopherPay", "Your account alice@example.com is ready."),
    ]
    assert entries(world.inbox("bob")) == [
        ("transfer.sent", "You sent 2.50 USD", "To alice@example.com. New balance: 9.84 USD."),
        (
            "transfer.received",
            "You received 12.34 USD",
            "From alice@example.com — lunch. New balance: 12.34 USD.",
        ),
        ("user.signed_up", "Welcome to GopherPay", "Your account bob@example.com is ready."),
    ]


def test_the_inbox_holds_one_entry_per_event_and_none_for_the_verification_code(world: World) -> None:
    for name in ("alice", "bob"):
        user_id = world.people[name]("--json", "whoami").json()["id"]
        events = world.db.run(
            lambda s, user_id=user_id: s.exec(
                select(OutboxEvent)
                .where(OutboxEvent.aggregate_key == user_id)
                .order_by(col(OutboxEvent.user_seq))
            ).all()
        )
        (verification,) = [e for e in events if e.event_type == "user.email_verification"]
        inbox = world.inbox(name)
        assert sorted(n["event_id"] for n in inbox) == sorted(
            str(e.id) for e in events if e is not verification
        )
        sealed = json.loads(verification.payload)["sealed_code"]
        code = open_code(Settings(**daemon_settings(world.daemon)), user_id, sealed)
        assert re.fullmatch(r"\d{6}", code)
        assert f'"{code}"' not in json.dumps(inbox)


def test_the_cli_lists_the_same_inbox(world: World) -> None:
    alice = world.people["alice"]

    as_json = alice("--json", "notifications")
    as_table = alice("notifications")

    assert as_json.returncode == 0, as_json.transcript()
    assert as_json.json() == {"items": world.inbox("alice"), "next_cursor": None}
    assert as_table.returncode == 0, as_table.transcript()
    header, rows = table(as_table.stdout)
    assert header == ["date", "type", "notification", "read", "id"]
    assert [(row[1], row[3]) for row in rows] == [
        ("transfer.received", "no"),
        ("transfer.sent", "no"),
        ("wallet.deposit", "no"),
        ("user.signed_up", "no"),
    ]


def test_reading_notifications_through_the_cli(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    carol = world.people["carol"] = new_person(tmp_path_factory, world.daemon, "carol")
    world.operator.deposit("carol@example.com", 100)
    wait_until(lambda: len(world.inbox("carol")) == 2, SETTLES_WITHIN, "carol's deposit in her inbox")
    newest = carol("--json", "notifications").json()["items"][0]

    unread_before = carol("--json", "notifications", "--unread")
    marked_one = carol("notifications", "read", newest["id"])
    marked_rest = carol("notifications", "read", "--all")
    unread_after = carol("notifications", "--unread")
    everything = carol("--json", "notifications")

    assert [n["type"] for n in unread_before.json()["items"]] == ["wallet.deposit", "user.signed_up"]
    assert newest["type"] == "wallet.deposit"
    assert (marked_one.returncode, marked_one.stderr) == (0, f"Marked notification {newest['id']} read.\n")
    assert (marked_rest.returncode, marked_rest.stderr) == (0, "Marked 1 notification read.\n")
    assert (unread_after.returncode, unread_after.stdout, unread_after.stderr) == (
        0,
        "",
        "No unread notifications.\n",
    )
    assert all(n["read_at"] for n in everything.json()["items"])
    assert all(n["read_at"] is None for n in world.inbox("alice"))


def test_admin_events_status_shows_the_in_process_transport_with_nothing_waiting(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ops = Cli(tmp_path_factory.mktemp("home-ops"), world.daemon.url)
    logged_in = ops("login", "--email", OPS_EMAIL, "--password-stdin", input=f"{OPS_PASSWORD}\n")
    assert logged_in.returncode == 0, logged_in.transcript()

    # The login is itself an event: give the dispatcher its moment.
    status = wait_until(
        lambda: (found := ops("--json", "admin", "events", "status").json())["outbox_backlog"] == 0 and found,
        SETTLES_WITHIN,
        "an empty outbox",
    )
    shown = ops("admin", "events", "status")

    assert status == {
        "outbox_backlog": 0,
        "oldest_unpublished_age_seconds": None,
        "transport": "in-process",
        "consumer_lag": None,
        "unhandled_events": 0,
        "dead_letters": 0,
        "dead_letters_awaiting_replay": 0,
    }
    assert shown.returncode == 0, shown.transcript()
    assert "Transport\tin-process" in shown.stdout, shown.stdout  # not a terminal: tab-separated
