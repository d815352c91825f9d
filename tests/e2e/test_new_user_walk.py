"""The README's first steps, run with the real executables on both storage backends.

Every command of the README's "First steps" runs exactly as written, in its order
(`test_the_walk_ran_every_readme_command_in_order` holds the two together): an
operator is created next to the daemon, Alice signs up, verifies her address and
opens a USD wallet, the operator funds that wallet, Bob signs up under a profile of
his own, money moves, every view of the history agrees, `history --follow` prints a
transfer as it happens, and logging out ends the session. Between the README's
commands the walk checks more (refusals and their exit codes, the audit). The only
liberties: passwords come from `--password-stdin` instead of the hidden prompt, the
verification code is the one the daemon made, and `> history.csv` is done by the test.
`pytest -s` prints the walk as the people saw it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gopherpayd.identity import verification
from gopherpayd.kit.db import Database
from tests.conftest import make_settings
from tests.e2e.helpers import (
    LOGIN_HINT,
    TIMESTAMP,
    UUID,
    Cli,
    CliFactory,
    Run,
    details,
    run_gopherpayd,
    table,
)
from tests.events.live import BackgroundCli, wait_until
from tests.support.daemon import RunningDaemon, run_daemon
from tests.support.databases import empty_all_tables

pytestmark = pytest.mark.e2e

OPS_PASSWORD = "ops-password-1"
ALICE_PASSWORD = "alice-password"
BOB_PASSWORD = "bob-password"
WALLET_COLUMNS = ["currency", "balance", "held", "available", "frozen", "wallet id"]
HISTORY_COLUMNS = ["date", "kind", "direction", "amount", "counterparty", "memo", "id"]
CSV_HEADER = [
    "created_at", "id", "kind", "direction", "amount_minor", "currency", "amount", "counterparty", "memo",
]  # fmt: skip
REPLAYED = "The daemon had already done this request (same idempotency key); nothing was done twice."
README = Path(__file__).resolve().parents[2] / "README.md"
CODE_PLACEHOLDER = "123456"
PROMPTED_PASSWORD = ("signup", "login", "create-admin")
"""Commands that prompt for a password at a terminal; the walk gives it on stdin instead."""
CONFIRMING = ("transfer", "deposit", "withdraw", "reverse", "freeze", "unfreeze")
"""Commands that ask before they move money at a terminal; the walk answers with --yes instead."""


def readme_first_steps() -> list[str]:
    """The commands of the README's "First steps" code blocks, comments left out."""
    section = README.read_text().split("\n## First steps\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                commands.append(command)
    return commands


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
    data_dir = tmp_path_factory.mktemp(f"gopherpayd-{request.param}")
    # As the README's reader has it: sending money needs a verified email address.
    with run_daemon(data_dir, database_url, GOPHERPAY_REQUIRE_VERIFIED_EMAIL="true") as running:
        yield running


@dataclass
class Walk:
    """Alice's computer (Bob and the operator have profiles on it), and what the walk has
    learnt so far, the README commands it ran included."""

    daemon: RunningDaemon
    alice: Cli
    ids: dict[str, str] = field(default_factory=dict)
    readme_commands: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.daemon.url

    def readme(self, command: str, *, password: str = "", code: str | None = None) -> Run:
        """Run one README command as written (the password on stdin, the real code)."""
        self.readme_commands.append(command)
        program, *words = shlex.split(command)
        if code is not None:
            words = [code if word == CODE_PLACEHOLDER else word for word in words]
        if any(word in PROMPTED_PASSWORD for word in words):
            words.append("--password-stdin")
        if any(word in CONFIRMING for word in words) and "show" not in words:
            words.append("--yes")
        redirect_to = None
        if ">" in words:
            words, redirect_to = words[: words.index(">")], words[words.index(">") + 1]
        if program == "gopherpayd":
            ran = run_gopherpayd(self.daemon, *words, input=f"{password}\n")
            print(ran.transcript())
            return ran
        assert program == "gopherpay", command
        ran = self.alice(*words, input=f"{password}\n" if password else "")
        if redirect_to is not None:
            (self.alice.home / redirect_to).write_text(ran.stdout)  # what the shell's `>` does
        return ran


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
    walk = Walk(walk_daemon, new_cli(walk_daemon.url, "alice", echo=True))

    an_operator_is_created_next_to_the_daemon(walk)
    alice_signs_up_verifies_and_opens_a_usd_wallet(walk)
    the_operator_logs_in_beside_alice_and_deposits(walk)
    bob_signs_up_under_a_profile_of_his_own(walk)
    alice_sends_bob_money_for_lunch(walk)
    history = alice_reads_her_history_as_a_table_json_and_csv(walk)
    alice_reads_her_notifications(walk)
    refused_transfers_exit_with_their_codes(walk, history)
    the_operator_audits_the_ledger(walk)
    alice_follows_her_history_as_it_happens(walk)
    alice_logs_out_and_the_operator_stays_logged_in(walk)
    the_daemon_kept_everything_where_it_was_configured_to(walk.daemon)
    assert walk.readme_commands == readme_first_steps()


def test_the_first_steps_are_commands_of_the_two_programs() -> None:
    commands = readme_first_steps()
    assert commands[0] == "gopherpayd create-admin --email ops@example.com"
    assert commands[-1] == "gopherpay logout"
    assert all(command.split()[0] in ("gopherpay", "gopherpayd") for command in commands)
    # Bob exists before anyone sends him money; follow comes before logout.
    signup_bob = next(i for i, c in enumerate(commands) if "signup --email bob@example.com" in c)
    first_transfer = next(i for i, c in enumerate(commands) if c.startswith("gopherpay transfer"))
    assert signup_bob < first_transfer
    assert commands.index("gopherpay history --follow") < commands.index("gopherpay logout")
    opened = next(c for c in commands if c.startswith("gopherpay wallets open"))
    deposit = next(c for c in commands if " admin deposit " in c)
    words = shlex.split(deposit)
    deposited_currency = words[words.index("deposit") + 3]
    assert opened.split()[-1] == deposited_currency == "USD"  # the wallet that was opened gets the money


def test_every_readme_table_is_one_block_without_blank_lines() -> None:
    lines = README.read_text().splitlines()
    headers = [
        n for n, line in enumerate(lines[:-1]) if line.startswith("|") and lines[n + 1].startswith("| ---")
    ]
    assert len(headers) >= 2
    for number in range(1, len(lines) - 1):
        # Rows after a blank line, with no header of their own, would render as loose text.
        continues = lines[number - 1].startswith("|") and lines[number + 1].startswith("|")
        new_table = number + 2 < len(lines) and lines[number + 2].startswith("| ---")
        assert not (lines[number].strip() == "" and continues and not new_table), (
            f"README.md line {number + 1}"
        )


def verification_code(daemon: RunningDaemon, email: str) -> str:
    """The code the daemon made: from its log on the embedded default (as the README says),
    else from the sealed code in the user's outbox event."""
    database_url = daemon.env.get("GOPHERPAY_DATABASE_URL")
    if database_url is None:
        pattern = rf"email verification code for {re.escape(email)}: (\d{{6}})"
        return wait_until(lambda: (re.findall(pattern, daemon.log()) or [None])[-1], 10, "the code")
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            user_id = connection.execute(
                text("SELECT id FROM users WHERE email = :email"), {"email": email}
            ).scalar_one()
            payload = connection.execute(
                text(
                    "SELECT payload FROM outbox WHERE aggregate_key = :key"
                    " AND event_type = 'user.email_verification'"
                ),
                {"key": str(user_id)},
            ).scalar_one()
    finally:
        database.dispose()
    payload = json.loads(payload) if isinstance(payload, str) else payload
    data_dir = Path(daemon.env["GOPHERPAY_DATA_DIR"])
    # The secret the daemon generated on first start, which sealed the code.
    settings = make_settings(database_url, data_dir, jwt_secret=(data_dir / "jwt-secret").read_text().strip())
    return verification.open_code(settings, str(user_id), payload[verification.SEALED_CODE_KEY])


def an_operator_is_created_next_to_the_daemon(walk: Walk) -> None:
    step("1. An operator account, created locally next to the daemon's data")
    created = walk.readme("gopherpayd create-admin --email ops@example.com", password=OPS_PASSWORD)
    assert (created.returncode, created.stdout) == (0, ""), created.transcript()
    id_in(created.stderr, r"created admin ops@example\.com \(UUID\)\n")


def alice_signs_up_verifies_and_opens_a_usd_wallet(walk: Walk) -> None:
    step("2. Alice signs up, verifies her address and opens a USD wallet")
    signup = walk.readme(
        'gopherpay signup --email alice@example.com --name "Alice Liddell"', password=ALICE_PASSWORD
    )
    assert (signup.returncode, signup.stdout) == (0, ""), signup.transcript()
    assert signup.stderr_lines[0] == f"Signed up and logged in to {walk.url} as alice@example.com."

    verified = walk.readme(
        "gopherpay verify 123456", code=verification_code(walk.daemon, "alice@example.com")
    )
    assert verified.returncode == 0, verified.transcript()

    opened = walk.readme("gopherpay wallets open USD")
    assert (opened.returncode, opened.stdout) == (0, ""), opened.transcript()
    usd_wallet = id_in(opened.stderr, r"Opened a USD wallet \(wallet UUID\)\.\n")

    balance = walk.readme("gopherpay balance")
    assert (balance.returncode, balance.stderr) == (0, ""), balance.transcript()
    assert table(balance.stdout) == (
        WALLET_COLUMNS,
        [["USD", "0.00 USD", "0.00 USD", "0.00 USD", "no", usd_wallet]],
    )
    walk.ids["alice_usd_wallet"] = usd_wallet


def the_operator_logs_in_beside_alice_and_deposits(walk: Walk) -> None:
    step("3. The operator logs in under a profile of their own and deposits 100.00 USD into it")
    login = walk.readme("gopherpay --profile ops login --email ops@example.com", password=OPS_PASSWORD)
    assert (login.returncode, login.stdout) == (0, ""), login.transcript()
    assert login.stderr_lines == [f"Logged in to {walk.url} as ops@example.com."]
    assert walk.alice.stored_login()["email"] == "alice@example.com"
    assert walk.alice.stored_login("ops")["email"] == "ops@example.com"

    deposit = walk.readme(
        "gopherpay --profile ops admin deposit alice@example.com 100.00 USD"
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


def bob_signs_up_under_a_profile_of_his_own(walk: Walk) -> None:
    step("4. Bob signs up, under a profile of his own on the same computer")
    signup = walk.readme(
        'gopherpay --profile bob signup --email bob@example.com --name "Bob Builder"', password=BOB_PASSWORD
    )
    assert (signup.returncode, signup.stdout) == (0, ""), signup.transcript()
    assert signup.stderr_lines[0] == f"Signed up and logged in to {walk.url} as bob@example.com."
    assert walk.alice.stored_login("bob")["email"] == "bob@example.com"
    assert walk.alice.stored_login()["email"] == "alice@example.com"

    # The deposit went into the wallet Alice opened.
    wallets = walk.alice.sh("wallets list")
    assert (wallets.returncode, wallets.stderr) == (0, ""), wallets.transcript()
    assert table(wallets.stdout) == (
        WALLET_COLUMNS,
        [["USD", "100.00 USD", "0.00 USD", "100.00 USD", "no", walk.ids["alice_usd_wallet"]]],
    )  # fmt: skip


def alice_sends_bob_money_for_lunch(walk: Walk) -> None:
    step("5. Alice sends Bob 12.34 USD for lunch; a USD wallet is opened for Bob")
    sent = walk.readme('gopherpay transfer 12.34 USD --to bob@example.com --memo "lunch"')
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

    received = walk.alice.sh("--profile bob balance USD")
    assert (received.returncode, received.stderr) == (0, ""), received.transcript()
    header, rows = table(received.stdout)
    assert header == WALLET_COLUMNS
    assert [row[:5] for row in rows] == [["USD", "12.34 USD", "0.00 USD", "12.34 USD", "no"]]
    walk.ids["lunch"] = lunch_id


def alice_reads_her_history_as_a_table_json_and_csv(walk: Walk) -> dict[str, dict[str, Any]]:
    step("6. Alice's history as a table, as JSON and as CSV")
    as_table = walk.readme("gopherpay history")
    as_csv = walk.readme("gopherpay history --csv > history.csv")
    as_json = walk.alice.sh("--json history")
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
    assert cash["recipient"]["wallet_id"] == walk.ids["alice_usd_wallet"]

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

    outgoing = walk.readme("gopherpay --json history --currency USD --direction out")
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
    bob_usd = walk.alice.sh("--profile bob --json balance USD")
    assert (alice_usd.json()["id"], alice_usd.json()["balance"]) == (walk.ids["alice_usd_wallet"], 8666)
    assert bob_usd.json()["balance"] == 1334
    items = walk.alice.sh("--json history").json()["items"]
    assert [(t["id"], t["amount"]) for t in items] == [
        (coffee_id, 100), (history["lunch"]["id"], 1234), (history["deposit"]["id"], 10000),
    ]  # fmt: skip


def alice_reads_her_notifications(walk: Walk) -> None:
    step("6b. Alice's unread notifications")
    inbox = walk.readme("gopherpay notifications --unread")
    assert (inbox.returncode, inbox.stderr) == (0, ""), inbox.transcript()
    assert inbox.stdout.strip(), inbox.transcript()


def alice_follows_her_history_as_it_happens(walk: Walk) -> None:
    step("9. Alice follows her history; a deposit from the ops profile shows up at once")
    walk.readme_commands.append("gopherpay history --follow")
    follower = BackgroundCli.start(walk.alice, "history", "--follow")
    try:
        follower.wait_for_stderr("Following new transfers from", timeout=15)
        refund = walk.alice.sh(
            '--profile ops admin deposit --yes alice@example.com 5.00 USD --reason "refund"'
        )
        assert refund.returncode == 0, refund.transcript()
        refund_id = id_in(refund.stderr, r"Deposited 5\.00 USD to alice@example\.com \(transfer UUID\)\n")
        shown = follower._wait(
            lambda: next((line.text for line in follower.stdout if refund_id[:8] in line.text), None), 15
        )
        assert "5.00 USD" in shown and "deposit" in shown, follower.transcript()
        assert follower.interrupt() == 130, follower.transcript()  # Ctrl-C: 128 + SIGINT
        assert follower.stderr[-1].text == "Stopped following.", follower.transcript()
    finally:
        follower.stop()
    print(follower.transcript())


def the_operator_audits_the_ledger(walk: Walk) -> None:
    step("8. The operator audits the ledger")
    audit = walk.alice.sh("--profile ops admin audit")
    assert audit.returncode == 0, audit.transcript()
    assert re.fullmatch(rf"Ledger OK: every invariant holds \(checked {TIMESTAMP}\)\.\n", audit.stderr), (
        audit.stderr
    )
    assert table(audit.stdout) == (
        ["currency", "wallets total", "deposits", "withdrawals"],
        [["USD", "100.00 USD", "100.00 USD", "0.00 USD"]],
    )
    report = walk.alice.sh("--profile ops --json admin audit")
    assert report.returncode == 0, report.transcript()
    assert (report.json()["ok"], report.json()["violations"]) == (True, [])
    counts = report.json()["counts"]
    # Wallets: Alice's USD, Bob's USD, and the outside world's USD.
    assert (counts["users"], counts["wallets"], counts["transfers"], counts["entries"]) == (3, 3, 3, 6)


def alice_logs_out_and_the_operator_stays_logged_in(walk: Walk) -> None:
    step("10. Alice logs out; the operator's and Bob's logins beside hers stay")
    session = walk.alice.stored_login()
    assert session is not None
    logout = walk.readme("gopherpay logout")
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
    assert walk.alice.stored_login("bob")["email"] == "bob@example.com"


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
