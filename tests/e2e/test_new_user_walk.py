"""The README's first steps, run with the real executables on both storage backends.

An operator is created next to the daemon, two people sign up on their own
computers, the operator funds one of them, money moves, every view of the
history agrees, refusals exit with their documented codes, and logging out
ends the session. `pytest -s` prints the walk as the people saw it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gopherpayd.kit.db import Database
from tests.e2e.helpers import LOGIN_HINT, TIMESTAMP, UUID, Cli, CliFactory, details, run_gopherpayd, table
from tests.support.daemon import RunningDaemon, run_daemon
from tests.support.databases import empty_all_tables

pytestmark = pytest.mark.e2e

OPS_PASSWORD = "ops-password-1"
ALICE_PASSWORD = "alice-password"
BOB_PASSWORD = "bob-password"
WALLET_COLUMNS = ["currency", "balance", "frozen", "wallet id"]
HISTORY_COLUMNS = ["date", "kind", "direction", "amount", "counterparty", "memo", "id"]
CSV_HEADER = [
    "created_at", "id", "kind", "direction", "amount_minor", "currency", "amount", "counterparty", "memo",
]  # fmt: skip
REPLAYED = "The daemon had already done this request (same idempotency key); nothing was done twice."


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def walk_daemon(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningDaemon]:
    """The embedded default (no GOPHERPAY_DATABASE_URL), or an emptied Postgres database."""
    database_url = None
    if request.param == "postgres":
        database_url = str(request.getfixturevalue("e2e_postgres_url"))
        database = Database(database_url)
        empty_all_tables(database)
        database.dispose()
    with run_daemon(tmp_path_factory.mktemp(f"gopherpayd-{request.param}"), database_url) as running:
        yield running


@dataclass
class Walk:
    """Alice's and Bob's computers, and what the walk has learnt so far."""

    daemon: RunningDaemon
    alice: Cli
    bob: Cli
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.daemon.url


def step(title: str) -> None:
    print(f"\n## {title}\n")


def shown_time(created_at: str) -> str:
    """How tables show an API timestamp, in the people's zone here (TZ=UTC): `2026-11-26 16:34:27 +00:00`."""
    return f"{datetime.fromisoformat(created_at).astimezone(UTC):%Y-%m-%d %H:%M:%S} +00:00"


def id_in(line: str, pattern: str) -> str:
    """The UUID captured by `pattern`, which must match the whole line."""
    match = re.fullmatch(pattern.replace("UUID", f"({UUID})"), line)
    assert match, line
    return match.group(1)


def test_a_new_user_signs_up_is_funded_sends_money_and_reads_the_history(
    walk_daemon: RunningDaemon, new_cli: CliFactory
) -> None:
    walk = Walk(
        walk_daemon, new_cli(walk_daemon.url, "alice", echo=True), new_cli(walk_daemon.url, "bob", echo=True)
    )

    an_operator_is_created_next_to_the_daemon(walk)
    alice_and_bob_sign_up_on_their_own_computers(walk)
    the_operator_logs_in_beside_alice_and_deposits(walk)
    alice_opens_a_wallet_and_sees_her_balances(walk)
    alice_sends_bob_money_for_lunch(walk)
    history = alice_reads_her_history_as_a_table_json_and_csv(walk)
    refused_transfers_exit_with_their_codes(walk, history)
    the_operator_audits_the_ledger(walk)
    alice_logs_out_and_the_operator_stays_logged_in(walk)
    the_daemon_kept_everything_where_it_was_configured_to(walk.daemon)


def an_operator_is_created_next_to_the_daemon(walk: Walk) -> None:
    step("1. An operator account, created locally next to the daemon's data")
    created = run_gopherpayd(
        walk.daemon,
        "create-admin",
        "--email",
        "ops@example.com",
        "--password-stdin",
        input=f"{OPS_PASSWORD}\n",
    )
    print(created.transcript())
    assert (created.returncode, created.stdout) == (0, ""), created.transcript()
    id_in(created.stderr, r"created admin ops@example\.com \(UUID\)\n")


def alice_and_bob_sign_up_on_their_own_computers(walk: Walk) -> None:
    step("2. Alice and Bob sign up, each on their own computer")
    for cli, email, name, password in [
        (walk.alice, "alice@example.com", "Alice Liddell", ALICE_PASSWORD),
        (walk.bob, "bob@example.com", "Bob Builder", BOB_PASSWORD),
    ]:
        signup = cli("signup", "--email", email, "--name", name, "--password-stdin", input=f"{password}\n")
        assert (signup.returncode, signup.stdout) == (0, ""), signup.transcript()
        assert signup.stderr_lines == [f"Signed up and logged in to {walk.url} as {email}."]


def the_operator_logs_in_beside_alice_and_deposits(walk: Walk) -> None:
    step("3. The operator logs in under a profile of their own and deposits 100.00 USD for Alice")
    login = walk.alice.sh(
        "--profile ops login --email ops@example.com --password-stdin", input=f"{OPS_PASSWORD}\n"
    )
    assert (login.returncode, login.stdout) == (0, ""), login.transcript()
    assert login.stderr_lines == [f"Logged in to {walk.url} as ops@example.com."]
    assert walk.alice.stored_login()["email"] == "alice@example.com"
    assert walk.alice.stored_login("ops")["email"] == "ops@example.com"

    deposit = walk.alice.sh(
        "--profile ops admin deposit --yes alice@example.com 100.00 USD"
        ' --reason "counter receipt 1187" --memo "cash at the branch"'
    )
    assert deposit.returncode == 0, deposit.transcript()
    deposit_id = id_in(deposit.stderr, r"Deposited 100\.00 USD to alice@example\.com \(transfer UUID\)\n")
    shown = details(deposit.stdout)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{2}:\d{2}", shown.pop("Date"))
    assert shown == {
        "Transfer": deposit_id,
        "Kind": "deposit",
        "Amount": "100.00 USD",
        "From": "outside world",
        "To": "alice@example.com",
        "Memo": "cash at the branch",
    }
    walk.ids["deposit"] = deposit_id


def alice_opens_a_wallet_and_sees_her_balances(walk: Walk) -> None:
    step("4. Alice opens a EUR wallet and looks at her wallets and balances")
    opened = walk.alice.sh("wallets open EUR")
    assert (opened.returncode, opened.stdout) == (0, ""), opened.transcript()
    eur_wallet = id_in(opened.stderr, r"Opened a EUR wallet \(wallet UUID\)\.\n")

    wallets = walk.alice.sh("wallets list")
    assert (wallets.returncode, wallets.stderr) == (0, ""), wallets.transcript()
    header, rows = table(wallets.stdout)
    assert header == WALLET_COLUMNS
    usd_wallet = rows[1][3]
    assert rows == [["EUR", "0.00 EUR", "no", eur_wallet], ["USD", "100.00 USD", "no", usd_wallet]]
    assert re.fullmatch(UUID, usd_wallet)

    balance = walk.alice.sh("balance")
    assert (balance.returncode, balance.stderr) == (0, ""), balance.transcript()
    assert table(balance.stdout) == (header, rows)
    walk.ids["alice_usd_wallet"] = usd_wallet


def alice_sends_bob_money_for_lunch(walk: Walk) -> None:
    step("5. Alice sends Bob 12.34 USD for lunch; a USD wallet is opened for Bob")
    sent = walk.alice.sh('transfer --yes 12.34 USD --to bob@example.com --memo "lunch"')
    assert sent.returncode == 0, sent.transcript()
    lunch_id = id_in(sent.stderr, r"Sent 12\.34 USD to bob@example\.com \(transfer UUID\)\n")
    shown = details(sent.stdout)
    shown.pop("Date")
    assert shown == {
        "Transfer": lunch_id,
        "Kind": "transfer",
        "Amount": "12.34 USD",
        "From": "alice@example.com",
        "To": "bob@example.com",
        "Memo": "lunch",
    }

    received = walk.bob.sh("balance USD")
    assert (received.returncode, received.stderr) == (0, ""), received.transcript()
    header, rows = table(received.stdout)
    assert header == WALLET_COLUMNS
    assert [row[:3] for row in rows] == [["USD", "12.34 USD", "no"]]
    walk.ids["lunch"] = lunch_id


def alice_reads_her_history_as_a_table_json_and_csv(walk: Walk) -> dict[str, dict[str, Any]]:
    step("6. Alice's history as a table, as JSON and as CSV")
    as_table = walk.alice.sh("history")
    as_json = walk.alice.sh("--json history")
    as_csv = walk.alice.sh("history --csv")
    for run in (as_table, as_json, as_csv):
        assert (run.returncode, run.stderr) == (0, ""), run.transcript()

    page = as_json.json()
    assert (set(page), page["next_cursor"]) == ({"items", "next_cursor"}, None)
    lunch, cash = page["items"]
    assert [lunch["id"], cash["id"]] == [walk.ids["lunch"], walk.ids["deposit"]]
    for transfer in (lunch, cash):
        assert re.fullmatch(TIMESTAMP, transfer["created_at"]), transfer["created_at"]
    assert (lunch["kind"], lunch["amount"], lunch["currency"], lunch["memo"], lunch["direction"]) == (
        "transfer", 1234, "USD", "lunch", "out",
    )  # fmt: skip
    assert (lunch["sender"]["email"], lunch["sender"]["wallet_id"]) == (
        "alice@example.com", walk.ids["alice_usd_wallet"],
    )  # fmt: skip
    assert (lunch["recipient"]["email"], lunch["recipient"]["full_name"]) == (
        "bob@example.com",
        "Bob Builder",
    )
    assert (cash["kind"], cash["amount"], cash["currency"], cash["memo"], cash["direction"]) == (
        "deposit", 10000, "USD", "cash at the branch", "in",
    )  # fmt: skip
    assert {**cash["sender"], "wallet_id": None} == {
        "wallet_id": None, "user_id": None, "email": None, "full_name": None, "system": True,
    }  # fmt: skip
    assert cash["recipient"]["email"] == "alice@example.com"

    assert table(as_table.stdout) == (
        HISTORY_COLUMNS,
        [
            [shown_time(lunch["created_at"]), "transfer", "out", "-12.34 USD", "bob@example.com", "lunch",
             lunch["id"]],
            [shown_time(cash["created_at"]), "deposit", "in", "100.00 USD", "outside world",
             "cash at the branch", cash["id"]],
        ],
    )  # fmt: skip
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        CSV_HEADER,
        [lunch["created_at"], lunch["id"], "transfer", "out", "-1234", "USD", "'-12.34 USD",
         "bob@example.com", "lunch"],
        [cash["created_at"], cash["id"], "deposit", "in", "10000", "USD", "100.00 USD", "outside world",
         "cash at the branch"],
    ]  # fmt: skip

    outgoing = walk.alice.sh("--json history --currency USD --direction out")
    assert outgoing.returncode == 0, outgoing.transcript()
    assert outgoing.json() == {"items": [lunch], "next_cursor": None}
    return {"lunch": lunch, "deposit": cash}


def refused_transfers_exit_with_their_codes(walk: Walk, history: dict[str, dict[str, Any]]) -> None:
    step("7. Transfers that are refused, and one sent twice with the same key")
    too_much = walk.alice.sh("transfer --yes 87.67 USD --to bob@example.com")
    assert (too_much.returncode, too_much.stdout) == (4, "")
    assert too_much.stderr_lines == [
        "Error: Your USD wallet has 87.66 USD; the transfer needs 87.67 USD",
        "Check your balance: gopherpay balance USD",
    ]

    half_dong = walk.alice.sh("transfer --yes 0.5 VND --to bob@example.com")
    assert (half_dong.returncode, half_dong.stdout) == (2, "")
    assert half_dong.stderr_lines == ["Error: VND has no minor unit: 0.5 is not a whole number of VND"]

    stranger = walk.alice.sh("transfer --yes 1.00 USD --to nobody@example.com")
    assert (stranger.returncode, stranger.stdout) == (5, "")
    assert stranger.stderr_lines == [
        "Error: No account for nobody@example.com; ask them to sign up first",
    ]

    first = walk.alice.sh("transfer --yes 1.00 USD --to bob@example.com --idempotency-key coffee-1")
    assert first.returncode == 0, first.transcript()
    coffee_id = id_in(first.stderr, r"Sent 1\.00 USD to bob@example\.com \(transfer UUID\)\n")
    again = walk.alice.sh("transfer --yes 1.00 USD --to bob@example.com --idempotency-key coffee-1")
    assert again.returncode == 0, again.transcript()
    assert again.stderr_lines == [f"Sent 1.00 USD to bob@example.com (transfer {coffee_id})", REPLAYED]

    other = walk.alice.sh("transfer --yes 2.00 USD --to bob@example.com --idempotency-key coffee-1")
    assert (other.returncode, other.stdout) == (6, "")
    assert other.stderr_lines == [
        "Error: Idempotency key 'coffee-1' was already used for a different request; "
        "use a new key for a new request",
        "That key was used for a different request. Leave out --idempotency-key to get a new one.",
    ]

    alice_usd = walk.alice.sh("--json balance USD")
    bob_usd = walk.bob.sh("--json balance USD")
    assert (alice_usd.json()["id"], alice_usd.json()["balance"]) == (walk.ids["alice_usd_wallet"], 8666)
    assert bob_usd.json()["balance"] == 1334
    items = walk.alice.sh("--json history").json()["items"]
    assert [(t["id"], t["amount"]) for t in items] == [
        (coffee_id, 100), (history["lunch"]["id"], 1234), (history["deposit"]["id"], 10000),
    ]  # fmt: skip


def the_operator_audits_the_ledger(walk: Walk) -> None:
    step("8. The operator audits the ledger")
    audit = walk.alice.sh("--profile ops admin audit")
    assert audit.returncode == 0, audit.transcript()
    assert re.fullmatch(rf"Ledger OK: every invariant holds \(checked {TIMESTAMP}\)\.\n", audit.stderr), (
        audit.stderr
    )
    assert table(audit.stdout) == (
        ["currency", "wallets total", "deposits", "withdrawals"],
        [["EUR", "0.00 EUR", "0.00 EUR", "0.00 EUR"], ["USD", "100.00 USD", "100.00 USD", "0.00 USD"]],
    )
    report = walk.alice.sh("--profile ops --json admin audit")
    assert report.returncode == 0, report.transcript()
    assert (report.json()["ok"], report.json()["violations"]) == (True, [])
    counts = report.json()["counts"]
    # Wallets: Alice's EUR and USD, Bob's USD, and the outside world's USD.
    assert (counts["users"], counts["wallets"], counts["transfers"], counts["entries"]) == (3, 4, 3, 6)


def alice_logs_out_and_the_operator_stays_logged_in(walk: Walk) -> None:
    step("9. Alice logs out; the operator's login beside hers stays")
    session = walk.alice.stored_login()
    assert session is not None
    logout = walk.alice.sh("logout")
    assert (logout.returncode, logout.stdout) == (0, ""), logout.transcript()
    assert logout.stderr_lines == [f"Logged out of {walk.url}."]
    assert walk.alice.stored_login() is None
    old_token = {"Authorization": f"Bearer {session['access_token']}"}
    revoked = httpx.get(f"{walk.url}/v1/me", headers=old_token, timeout=10)
    assert (revoked.status_code, revoked.json()["code"]) == (401, "session_revoked")

    whoami = walk.alice.sh("whoami")
    assert (whoami.returncode, whoami.stdout) == (3, "")
    assert whoami.stderr_lines == [f"Error: You are not logged in to {walk.url}", LOGIN_HINT]

    operator = walk.alice.sh("--profile ops whoami")
    assert operator.returncode == 0, operator.transcript()
    shown = details(operator.stdout)
    assert (shown["Email"], shown["Role"]) == ("ops@example.com", "admin")


def the_daemon_kept_everything_where_it_was_configured_to(daemon: RunningDaemon) -> None:
    database_url = daemon.env.get("GOPHERPAY_DATABASE_URL")
    started = daemon.log().splitlines()[0]
    if database_url is None:
        sqlite_file = Path(daemon.env["GOPHERPAY_DATA_DIR"]) / "gopherpay.db"
        assert started.endswith(f" on SQLite file {sqlite_file}"), started
        assert sqlite_file.stat().st_size > 0
        return
    assert started.endswith(" on Postgres"), started
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            emails = connection.execute(text("SELECT email FROM users ORDER BY email")).scalars().all()
    finally:
        database.dispose()
    assert emails == ["alice@example.com", "bob@example.com", "ops@example.com"]
