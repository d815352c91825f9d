"""The whole event pipeline as separate processes, for the end-to-end and fault-injection tests.

`running_pipeline` brings up, for one test: a fresh Postgres database, a Tansu broker with the
daemon's topics (in memory, or kept in a moto S3 so it can be stopped and started again), the
Novu stand-in, and the real `gopherpayd serve`, `gopherpayd relay` and `gopherpayd worker`
processes wired to them. `Pipeline` drives it through the HTTP API the way people do and keeps
track of what that should produce: the Novu triggers (workflow, subscriber, payload) and the
in-app inbox entries. `assert_delivered_exactly_once` checks the lot; `DELIVERY_IDENTITY` says
which event types have their payloads pinned and how one delivery of a type is told from another.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import psycopg

from tests.support.api import Account, Api
from tests.support.daemon import RunningDaemon, daemon_env, executable, run_daemon
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.kafka import MotoS3, TansuBroker
from tests.support.novu import NovuStandIn, NovuTrigger
from tests.support.services import ServiceProcess

TOPIC_PREFIX = "gp-e2e"
TRANSFERS_TOPIC = f"{TOPIC_PREFIX}.transfers"
DEAD_LETTER_TOPIC = f"{TOPIC_PREFIX}.dead-letters"
EVENT_TOPICS = [f"{TOPIC_PREFIX}.{family}" for family in ("transfers", "identity", "wallets")]
GROUP_ID = "gp-e2e-notifications"
NOVU_SECRET = "novu-pipeline-secret"
ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "operator-password"
CURRENCY = "USD"
DELIVERY_TIMEOUT = 60.0
"""Seconds to wait for deliveries: a worker's first group join alone takes a few seconds."""

INBOX_TITLES = {
    "transfer.sent": "You sent",
    "transfer.received": "You received",
    "wallet.deposit": "Deposit of",
}

DELIVERY_IDENTITY: dict[str, tuple[str, ...]] = {
    # Event type: the fields of its outbox payload (an inbox entry's data) that tell one delivery
    # of it to a person from the others. These are the money events: every trigger of one of these
    # types must be expected with its exact payload, once. A new kind of event is one line here.
    "wallet.deposit": ("transfer_id",),
    "transfer.sent": ("transfer_id",),
    "transfer.received": ("transfer_id",),
    # A hold's steps carry no transfer id: the hold and how much of it was settled by then.
    "hold.placed": ("hold_id", "captured", "released"),
    "hold.captured": ("hold_id", "captured", "released"),
    "hold.voided": ("hold_id", "captured", "released"),
    "hold.declined": ("hold_id", "captured", "released"),
    "hold.expired": ("hold_id", "captured", "released"),
    "fx.exchanged": ("transfer_id",),
}


def delivery_identity(event_type: str, payload: Mapping[str, Any]) -> tuple[object, ...]:
    """Which of its type's deliveries an event is, read off its outbox payload; () for the
    types that are only counted."""
    return tuple(payload[name] for name in DELIVERY_IDENTITY.get(event_type, ()))


T = TypeVar("T")


def usd(minor: int) -> str:
    return money(minor, "USD")


def money(minor: int, currency: str) -> str:
    """Minor units as the daemon writes them, for the two-decimal currencies the tests use."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency}"


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = DELIVERY_TIMEOUT) -> T:
    """Poll probe until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


@dataclass(frozen=True)
class Expected:
    """One Novu trigger the test's actions must cause (and, maybe, one inbox entry)."""

    workflow: str
    subscriber_id: str
    event_type: str
    shown: bool = True
    """Whether the event lands in the person's in-app inbox too."""
    payload: dict[str, Any] | None = None
    """The exact trigger payload (less its event_id): required for the DELIVERY_IDENTITY types."""
    identity: tuple[object, ...] = ()
    """The values of the type's DELIVERY_IDENTITY fields: which delivery of its type this is."""
    inbox_title: str | None = None
    """The inbox entry's exact title, where the test pins it down."""

    @property
    def key(self) -> tuple[str, str, tuple[object, ...]]:
        return self.event_type, self.subscriber_id, self.identity


class OutboxEvent(NamedTuple):
    event_type: str
    user_id: str
    payload: dict[str, Any]


@dataclass
class Pipeline:
    root: Path
    database_url: str
    broker: TansuBroker
    novu: NovuStandIn
    daemon: RunningDaemon
    env: dict[str, str]
    client: httpx.Client
    started: float
    relays: list[ServiceProcess] = field(default_factory=list)
    workers: list[ServiceProcess] = field(default_factory=list)
    expected: list[Expected] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    admin: Account | None = None
    accounts_by_id: dict[str, Account] = field(default_factory=dict)

    # -- processes ------------------------------------------------------------------------

    def start_relay(self) -> ServiceProcess:
        relay = ServiceProcess("relay", self.env, self.root / f"relay-{len(self.relays) + 1}.log").start()
        self.relays.append(relay)
        relay.wait_for_log(r"gopherpayd relay: outbox -> Kafka", timeout=30)
        return relay

    def start_worker(self) -> ServiceProcess:
        worker = ServiceProcess("worker", self.env, self.root / f"worker-{len(self.workers) + 1}.log").start()
        self.workers.append(worker)
        worker.wait_for_log(r"gopherpayd worker: Kafka at", timeout=30)
        return worker

    def logs(self) -> str:
        parts = [f"--- serve\n{self.daemon.log()}"]
        parts += [f"--- {p.log_path.name}\n{p.log()}" for p in [*self.relays, *self.workers]]
        parts.append(f"--- broker\n{self.broker.log()[-4000:]}")
        return "\n".join(parts)

    # -- people and money -----------------------------------------------------------------

    @property
    def api(self) -> Api:
        return Api(self.client)

    def create_admin(self) -> Account:
        created = subprocess.run(
            [executable("gopherpayd"), "create-admin", "--email", ADMIN_EMAIL, "--password-stdin"],
            input=f"{ADMIN_PASSWORD}\n",
            env=self.daemon.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        self.admin = self.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.accounts_by_id[self.admin.user_id] = self.admin
        # The account's first login: no new-login alert.
        self.expect("welcome", self.admin, "user.signed_up")
        return self.admin

    def sign_up(self, name: str) -> Account:
        account = self.api.signup(f"{name.lower()}@example.com", name=f"{name} Example")
        self.expect("welcome", account, "user.signed_up")
        self.expect("email-verification", account, "user.email_verification", shown=False)
        self.balances[account.user_id] = 0
        self.accounts_by_id[account.user_id] = account
        return account

    def deposit(self, account: Account, amount: int) -> dict[str, Any]:
        assert self.admin is not None
        transfer = self.api.deposit(self.admin, account.email, amount, CURRENCY)
        self.balances[account.user_id] += amount
        self.expect_money(
            "deposit",
            account,
            "wallet.deposit",
            self._money_payload(account, amount, "outside world", "test funding", transfer["id"]),
        )
        return transfer

    def transfer(self, sender: Account, recipient: Account, amount: int, memo: str | None) -> dict[str, Any]:
        response = self.api.transfer(sender, recipient.email, amount, CURRENCY, memo=memo)
        assert response.status_code == 201, response.text
        transfer = dict(response.json())
        self.expect_transfer(sender, recipient, amount, memo, transfer["id"])
        return transfer

    def expect_transfer(
        self, sender: Account, recipient: Account, amount: int, memo: str | None, transfer_id: str
    ) -> None:
        """Money moved from sender to recipient (by a transfer, or a hold's capture): both hear of it."""
        self.balances[sender.user_id] -= amount
        self.balances[recipient.user_id] += amount
        sent = self._money_payload(sender, amount, recipient.email, memo, transfer_id)
        received = self._money_payload(recipient, amount, sender.email, memo, transfer_id)
        self.expect_money("transfer-sent", sender, "transfer.sent", sent)
        self.expect_money("transfer-received", recipient, "transfer.received", received)

    def expect_money(self, workflow: str, account: Account, event_type: str, payload: dict[str, Any]) -> None:
        self.expect(
            workflow,
            account,
            event_type,
            payload=payload,
            facts={"transfer_id": payload["transfer_id"]},
            inbox_title=f"{INBOX_TITLES[event_type]} {payload['amount']}",
        )

    def _money_payload(
        self, account: Account, amount: int, counterparty: str, memo: str | None, transfer_id: str
    ) -> dict[str, Any]:
        return {
            "email": account.email,
            "amount": usd(amount),
            "amount_minor": amount,
            "currency": CURRENCY,
            "counterparty": counterparty,
            "memo": memo,
            "new_balance": usd(self.balances[account.user_id]),
            "transfer_id": transfer_id,
        }

    def expect(
        self,
        workflow: str,
        account: Account,
        event_type: str,
        *,
        shown: bool = True,
        payload: dict[str, Any] | None = None,
        facts: Mapping[str, Any] | None = None,
        inbox_title: str | None = None,
    ) -> None:
        """`facts`: the values the event's outbox payload will carry in its DELIVERY_IDENTITY fields."""
        identity = delivery_identity(event_type, facts or {})
        self.expected.append(
            Expected(workflow, account.user_id, event_type, shown, payload, identity, inbox_title)
        )

    # -- what the operator sees -----------------------------------------------------------

    def admin_get(self, path: str) -> Any:
        assert self.admin is not None
        response = self.client.get(path, headers=self.admin.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self) -> dict[str, Any]:
        return dict(self.admin_get("/v1/admin/events/status"))

    def dead_letters(self) -> list[dict[str, Any]]:
        return list(self.admin_get("/v1/admin/events/dead-letters")["items"])

    def inbox(self, account: Account) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = self.client.get("/v1/notifications", params=params, headers=account.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of the test's own to the daemon's database."""
        return psycopg.connect(self.database_url.replace("postgresql+psycopg://", "postgresql://"))

    def outbox(self) -> list[tuple[str, str, str, datetime | None]]:
        """(event id, type, user id, published_at) of every outbox row, straight from Postgres."""
        with self.connect() as conn:
            rows = conn.execute("SELECT id, event_type, aggregate_key, published_at FROM outbox").fetchall()
        return [(str(id_), type_, user, published) for id_, type_, user, published in rows]

    def outbox_events(self) -> dict[str, OutboxEvent]:
        """Every outbox event by its id, with its payload, straight from Postgres."""
        with self.connect() as conn:
            rows = conn.execute("SELECT id, event_type, aggregate_key, payload FROM outbox").fetchall()
        return {str(id_): OutboxEvent(type_, user, json.loads(body)) for id_, type_, user, body in rows}

    def wait_until_settled(self, timeout: float = DELIVERY_TIMEOUT) -> dict[str, Any]:
        """Wait until every event is published and handled and the group has committed everything.

        Nothing can be delivered after that (no message is left to redeliver), so a test
        can assert that nothing came twice without sleeping for stragglers.
        """

        def settled() -> dict[str, Any] | None:
            status = self.status()
            if (
                status["outbox_backlog"]
                or status["unhandled_events"]
                or status["dead_letters_awaiting_replay"]
            ):
                return None
            if self.broker.group_offsets(GROUP_ID, EVENT_TOPICS).lag:
                return None
            return status

        return wait_until("the pipeline to settle", settled, timeout)

    # -- the verdict ----------------------------------------------------------------------

    def wait_for_expected(self, timeout: float = DELIVERY_TIMEOUT) -> list[NovuTrigger]:
        return self.novu.wait_for_triggers(len(self.expected), timeout=timeout)

    def assert_delivered_exactly_once(
        self, timeout: float = DELIVERY_TIMEOUT, *, dead_letters: int = 0, crashed: bool = False
    ) -> list[NovuTrigger]:
        """Every expected trigger and inbox entry exactly once, and nothing else, anywhere.

        Replays (a repeated idempotency key answered from Novu's store) and duplicates (a used
        transactionId under a new key, as a bulk trigger sent again carries) notify nobody; only
        a worker that crashed between its Novu call and recording the event as handled sends
        them, so only a test that kills the worker (`crashed`) allows them. Without a crash
        there are none.
        """
        self.wait_for_expected(timeout)
        status = self.wait_until_settled(timeout)
        triggers = self.novu.triggers

        if not crashed:
            assert self.novu.duplicates == []
            assert self.novu.replays == []
        transaction_ids = Counter(t.transaction_id for t in triggers)
        assert [tid for tid, n in transaction_ids.items() if n > 1] == []
        # Each trigger announces one outbox event, and every outbox event was announced.
        outbox = self.outbox_events()
        assert set(transaction_ids) == set(outbox)
        assert Counter((t.workflow, t.subscriber_id) for t in triggers) == Counter(
            (e.workflow, e.subscriber_id) for e in self.expected
        )
        for trigger in triggers:
            assert trigger.payload["event_id"] == trigger.transaction_id
            assert trigger.subscriber_id == outbox[trigger.transaction_id].user_id
        self.assert_money_payloads(triggers, outbox)
        self.assert_inboxes(triggers)
        assert (status["outbox_backlog"], status["unhandled_events"], status["dead_letters"]) == (
            0,
            0,
            dead_letters,
        )
        return triggers

    def assert_money_payloads(self, triggers: list[NovuTrigger], outbox: dict[str, OutboxEvent]) -> None:
        """Every trigger of a DELIVERY_IDENTITY type is an expected one, exactly once, through its
        workflow and with its exact payload (amounts in major and minor units, currency,
        counterparty, memo, new balance, the transfer or hold it is about)."""

        def key(trigger: NovuTrigger) -> tuple[str, str, tuple[object, ...]]:
            event = outbox[trigger.transaction_id]
            return event.event_type, event.user_id, delivery_identity(event.event_type, event.payload)

        pinned = [e for e in self.expected if e.payload is not None]
        assert [e for e in self.expected if (e.payload is None) == (e.event_type in DELIVERY_IDENTITY)] == []
        money = [t for t in triggers if outbox[t.transaction_id].event_type in DELIVERY_IDENTITY]
        # No notification that names an amount escapes the exact checks below.
        unpinned = [t for t in triggers if outbox[t.transaction_id].event_type not in DELIVERY_IDENTITY]
        assert [t.workflow for t in unpinned if "amount" in t.payload] == []
        delivered = Counter(key(t) for t in money)
        assert [k for k, n in delivered.items() if n > 1] == []
        assert delivered == Counter(e.key for e in pinned)
        by_key = {key(t): t for t in money}
        for expected in pinned:
            trigger = by_key[expected.key]
            assert trigger.workflow == expected.workflow, expected.key
            assert {k: v for k, v in trigger.payload.items() if k != "event_id"} == expected.payload
            assert trigger.email == expected.payload["email"]

    def assert_inboxes(self, triggers: list[NovuTrigger]) -> None:
        """Each person's inbox: one entry per shown event, the same events Novu was told about."""
        accounts = {account.user_id: account for account in self.accounts()}
        for user_id, account in accounts.items():
            entries = self.inbox(account)
            wanted = [e for e in self.expected if e.subscriber_id == user_id and e.shown]
            assert Counter((n["type"], delivery_identity(n["type"], n["data"])) for n in entries) == Counter(
                (e.event_type, e.identity) for e in wanted
            ), account.email
            titled = {(e.event_type, e.identity): e for e in wanted if e.inbox_title is not None}
            for entry in entries:
                expected = titled.get((entry["type"], delivery_identity(entry["type"], entry["data"])))
                if expected is None:
                    continue
                assert entry["title"] == expected.inbox_title
                assert expected.payload is not None
                if expected.payload["new_balance"] is not None:
                    balance = money(entry["data"]["new_balance"], entry["data"]["currency"])
                    assert balance == expected.payload["new_balance"]
            shown = {
                t.transaction_id
                for t in triggers
                if t.subscriber_id == user_id and t.workflow != "email-verification"
            }
            assert Counter(n["event_id"] for n in entries) == Counter(shown), account.email

    def accounts(self) -> list[Account]:
        return list(self.accounts_by_id.values())

    # -- common set-ups -------------------------------------------------------------------

    def people(self, *names: str, funds: int = 100_000) -> list[Account]:
        """The operator (once) and these people, each with `funds` deposited; waits until all
        their events arrived, so the worker has joined its group and the pipeline is warm."""
        if self.admin is None:
            self.create_admin()
        accounts = [self.sign_up(name) for name in names]
        for account in accounts:
            self.deposit(account, funds)
        self.wait_for_expected()
        return accounts


@contextmanager
def running_pipeline(
    root: Path,
    *,
    persistent: bool = False,
    relays: int = 1,
    workers: int = 1,
    **extra_env: str,
) -> Iterator[Pipeline]:
    """Postgres + Tansu + Novu stand-in + `serve`, `relay` and `worker` processes, torn down after.

    extra_env overrides GOPHERPAY_* settings of all three processes. When the body fails, the
    processes' logs are printed (pytest shows them with the failure).
    """
    started = time.monotonic()
    name = f"gopherpay_events_{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack:
        database_url = create_postgres_database(name)
        stack.callback(drop_postgres_database, name)
        storage = None
        if persistent:
            storage = stack.enter_context(MotoS3(root / "moto.log"))
        broker = stack.enter_context(TansuBroker(root / "broker.log", storage=storage))
        broker.create_topics(TOPIC_PREFIX)
        novu = stack.enter_context(NovuStandIn(NOVU_SECRET))
        settings = {
            "GOPHERPAY_KAFKA_BOOTSTRAP": broker.bootstrap,
            "GOPHERPAY_KAFKA_TOPIC_PREFIX": TOPIC_PREFIX,
            "GOPHERPAY_KAFKA_GROUP_ID": GROUP_ID,
            "GOPHERPAY_NOVU_SECRET_KEY": NOVU_SECRET,
            "GOPHERPAY_NOVU_SERVER_URL": novu.url,
            "GOPHERPAY_DELIVERY_BACKOFF_INITIAL": "0.1",
            "GOPHERPAY_DELIVERY_BACKOFF_MAX": "0.5",
            **extra_env,
        }
        data_dir = root / "gopherpayd"
        daemon = stack.enter_context(run_daemon(data_dir, database_url, **settings))
        client = stack.enter_context(httpx.Client(base_url=daemon.url, timeout=30))
        pipeline = Pipeline(
            root=root,
            database_url=database_url,
            broker=broker,
            novu=novu,
            daemon=daemon,
            env=daemon_env(data_dir, database_url, **settings),
            client=client,
            started=started,
        )
        stack.callback(lambda: [p.terminate() for p in [*pipeline.relays, *pipeline.workers]])
        for _ in range(relays):
            pipeline.start_relay()
        for _ in range(workers):
            pipeline.start_worker()
        try:
            yield pipeline
        except BaseException:
            print(pipeline.logs())
            raise
