"""Operator commands, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import TRANSFER_ID, Run, transfer, user
from tests.cli.fake_daemon import FakeDaemon, Reply, problem

AS_ADMIN = {"GOPHERPAY_TOKEN": "admin-token"}
REVERSAL_ID = "7f3a9c1e-1111-4000-8000-0000000000ff"


def audit(violations: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "ok": not violations,
        "checked_at": "2026-11-26T16:34:27Z",
        "violations": violations,
        "totals": [{"currency": "USD", "wallets_total": 100, "deposits": 200, "withdrawals": 100}],
        "counts": {"users": 2, "wallets": 3, "transfers": 4, "entries": 8, "outbox_pending": 0},
    }


def test_deposit_sends_minor_units_reason_and_key(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on(
        "POST", "/v1/admin/deposits", Reply(201, transfer(amount=100_000, direction=None, kind="deposit"))
    )

    result = gopherpay(
        "admin",
        "deposit",
        "--yes",
        "alice@example.com",
        "1,000",
        "usd",
        "--reason",
        "opening balance",
        "--idempotency-key",
        "dep-1",
        env=AS_ADMIN,
    )

    assert result.exit_code == 0, result.stderr
    sent = daemon.seen("POST", "/v1/admin/deposits")[0]
    assert sent.body == {
        "user": "alice@example.com",
        "amount": 100_000,
        "currency": "USD",
        "reason": "opening balance",
    }
    assert sent.headers["idempotency-key"] == "dep-1"
    assert result.stderr == f"Deposited 1,000.00 USD to alice@example.com (transfer {TRANSFER_ID})\n"


def test_withdraw_goes_to_the_withdrawals_endpoint(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on(
        "POST", "/v1/admin/withdrawals", Reply(201, transfer(amount=500, direction=None, kind="withdrawal"))
    )

    result = gopherpay(
        "admin", "withdraw", "--yes", "alice@example.com", "5", "USD", "--reason", "cash out", env=AS_ADMIN
    )

    assert result.exit_code == 0
    assert result.stderr == f"Withdrew 5.00 USD from alice@example.com (transfer {TRANSFER_ID})\n"


def test_admin_commands_refused_to_a_user_exit_3(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/admin/users", problem(403, "forbidden", "admin role required"))

    result = gopherpay("admin", "users", env=AS_ADMIN)

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Admin role required\n"
        "Operator commands need an admin account. Log in as one under a profile of its own "
        "(gopherpay --profile ops login), then run: gopherpay --profile ops admin …\n"
    )


def test_users_search_is_sent_as_q(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    page = {"items": [user() | {"wallets": []}], "next_cursor": None}
    daemon.on("GET", "/v1/admin/users", Reply(200, page))

    result = gopherpay("--json", "admin", "users", "--search", "alice", env=AS_ADMIN)

    assert daemon.requests[0].query == {"q": "alice", "limit": "50"}
    assert json.loads(result.stdout) == page


def test_freeze_one_wallet(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = "/v1/admin/users/alice@example.com/wallets/USD/freeze"
    daemon.on("POST", path, Reply(200, {"id": "w", "currency": "USD", "balance": 0, "frozen": True}))

    result = gopherpay(
        "admin", "freeze", "--yes", "alice@example.com", "--wallet", "usd", "--reason", "fraud", env=AS_ADMIN
    )

    assert result.exit_code == 0
    assert daemon.seen("POST", path)[0].body == {"reason": "fraud"}
    assert result.stderr == "Froze the USD wallet of alice@example.com.\n"


def test_unfreeze_an_account(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/admin/users/alice@example.com/unfreeze", Reply(200, user()))

    result = gopherpay("admin", "unfreeze", "--yes", "alice@example.com", "--reason", "cleared", env=AS_ADMIN)

    assert result.exit_code == 0
    assert result.stderr == "Unfroze the account of alice@example.com.\n"


def test_reverse_sends_the_reason_with_a_key(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = f"/v1/admin/transfers/{TRANSFER_ID}/reverse"
    daemon.on("POST", path, Reply(201, transfer(transfer_id=REVERSAL_ID, kind="reversal", direction=None)))

    result = gopherpay("admin", "reverse", "--yes", TRANSFER_ID, "--reason", "duplicate", env=AS_ADMIN)

    assert result.exit_code == 0
    sent = daemon.seen("POST", path)[0]
    assert sent.body == {"reason": "duplicate"}
    assert sent.headers["idempotency-key"]
    assert result.stderr == f"Reversed transfer {TRANSFER_ID} (reversal {REVERSAL_ID})\n"


def test_reversing_twice_exits_4(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = f"/v1/admin/transfers/{TRANSFER_ID}/reverse"
    daemon.on("POST", path, problem(409, "already_reversed", f"transfer {TRANSFER_ID} was already reversed"))

    result = gopherpay("admin", "reverse", "--yes", TRANSFER_ID, "--reason", "again", env=AS_ADMIN)

    assert result.exit_code == 4


def test_deposit_sends_the_customers_memo_apart_from_the_reason(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/admin/deposits", Reply(201, transfer(amount=500, direction=None, kind="deposit")))

    result = gopherpay(
        "admin", "deposit", "--yes", "alice@example.com", "5", "USD",
        "--reason", "KYC case 4411", "--memo", "Welcome bonus", env=AS_ADMIN,
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", "/v1/admin/deposits")[0].body == {
        "user": "alice@example.com",
        "amount": 500,
        "currency": "USD",
        "reason": "KYC case 4411",
        "memo": "Welcome bonus",
    }


def test_withdraw_and_reverse_send_the_memo_too(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = f"/v1/admin/transfers/{TRANSFER_ID}/reverse"
    daemon.on("POST", path, Reply(201, transfer(transfer_id=REVERSAL_ID, kind="reversal", direction=None)))
    daemon.on(
        "POST", "/v1/admin/withdrawals", Reply(201, transfer(amount=500, direction=None, kind="withdrawal"))
    )

    reversed_ = gopherpay(
        "admin", "reverse", "--yes", TRANSFER_ID, "--reason", "fraud ring", "--memo", "Reversed", env=AS_ADMIN
    )
    withdrawn = gopherpay(
        "admin", "withdraw", "--yes", "alice@example.com", "5", "USD",
        "--reason", "court order", "--memo", "Payout", env=AS_ADMIN,
    )  # fmt: skip

    assert (reversed_.exit_code, withdrawn.exit_code) == (0, 0)
    assert daemon.seen("POST", path)[0].body == {"reason": "fraud ring", "memo": "Reversed"}
    assert daemon.seen("POST", "/v1/admin/withdrawals")[0].body["memo"] == "Payout"


def test_a_memo_too_long_for_a_transfer_is_refused_before_sending(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay(
        "admin",
        "deposit",
        "alice@example.com",
        "5",
        "USD",
        "--reason",
        "r",
        "--memo",
        "m" * 281,
        env=AS_ADMIN,
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --memo is at most 280 characters, got 281\n")
    assert daemon.requests == []


def test_an_operator_moving_money_on_their_own_account_is_rejected_with_exit_4(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    detail = "operator admin@example.com cannot deposit into their own account; ask another operator"
    daemon.on("POST", "/v1/admin/deposits", problem(403, "operator_own_account", detail))

    result = gopherpay(
        "admin", "deposit", "--yes", "admin@example.com", "5", "USD", "--reason", "r", env=AS_ADMIN
    )

    assert result.exit_code == 4
    assert result.stderr == f"Error: {detail[:1].upper()}{detail[1:]}\n"  # said once: no hint


def test_clean_audit_exits_0(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/admin/audit", Reply(200, audit([])))

    result = gopherpay("admin", "audit", env=AS_ADMIN)

    assert result.exit_code == 0
    assert result.stderr == "Ledger OK: every invariant holds (checked 2026-11-26T16:34:27Z).\n"


def test_an_audit_shows_the_fx_house_position_per_currency(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    report = audit([]) | {
        "fx_positions": [
            {"currency": "EUR", "house": -9_166, "revenue": 0},
            {"currency": "USD", "house": 9_950, "revenue": 50},
        ]
    }
    daemon.on("GET", "/v1/admin/audit", Reply(200, report))

    result = gopherpay("admin", "audit", env=AS_ADMIN)

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("currency\tfx house position\tfx revenue")
    assert lines[start + 1 : start + 3] == ["EUR\t-91.66 EUR\t0.00 EUR", "USD\t99.50 USD\t0.50 USD"]


def test_audit_with_violations_prints_each_and_exits_1(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    violations = [
        {
            "invariant": "wallet_balance_equals_entries",
            "detail": "wallet w1 balance 5 != entries 4",
            "subject": "w1",
        },
        {"invariant": "deposits_minus_withdrawals", "detail": "USD total 100 != 90", "subject": "USD"},
    ]
    daemon.on("GET", "/v1/admin/audit", Reply(200, audit(violations)))

    result = gopherpay("admin", "audit", env=AS_ADMIN)

    assert result.exit_code == 1
    for violation in violations:
        line = next(line for line in result.stdout.splitlines() if violation["invariant"] in line)
        assert violation["detail"] in line and violation["subject"] in line
    assert result.stderr == "Error: The audit found 2 invariant violation(s)\n"


def test_audit_json_with_violations_still_exits_1(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    report = audit([{"invariant": "x", "detail": "y", "subject": "z"}])
    daemon.on("GET", "/v1/admin/audit", Reply(200, report))

    result = gopherpay("--json", "admin", "audit", env=AS_ADMIN)

    assert result.exit_code == 1
    assert json.loads(result.stdout) == report


def test_audit_log_follows_the_cursor(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    entry = {
        "id": "e1",
        "actor_id": "a",
        "actor_email": "operator@example.com",
        "action": "deposit",
        "target": "alice@example.com",
        "reason": "opening",
        "details": {},
        "created_at": "2026-11-26T16:34:27Z",
    }
    daemon.on("GET", "/v1/admin/audit-log", Reply(200, {"items": [entry], "next_cursor": None}))

    result = gopherpay("admin", "log", "--limit", "10", env=AS_ADMIN)

    assert daemon.requests[0].query == {"limit": "10"}
    assert "operator@example.com" in result.stdout and "opening" in result.stdout


DEAD_LETTER_ID = "dead1e77-0000-4000-8000-000000000001"
EVENTS_STATUS = {
    "outbox_backlog": 3,
    "oldest_unpublished_age_seconds": 4.25,
    "transport": "kafka",
    "consumer_lag": 12,
    "unhandled_events": 2,
    "dead_letters": 5,
    "dead_letters_awaiting_replay": 1,
}


def dead_letter(replay_requested_at: str | None = None, replayed_at: str | None = None) -> dict[str, Any]:
    return {
        "id": DEAD_LETTER_ID,
        "event_id": "e0e0e0e0-0000-4000-8000-000000000001",
        "event_type": "transfer.received",
        "user_id": "0b8f2a52-5b0e-4d5e-9d6c-4f1f6b0a1a01",
        "topic": "gopherpay.transfers",
        "reason": "novu answered 503 after 5 attempts",
        "attempts": 5,
        "created_at": "2026-11-26T16:34:27Z",
        "replay_requested_at": replay_requested_at,
        "replayed_at": replayed_at,
    }


def details(stdout: str) -> dict[str, str]:
    """The two-column `field<TAB>value` lines (as printed to a pipe) as a dict."""
    pairs = [line.split("\t", 1) for line in stdout.splitlines() if line.strip()]
    return {name.strip(): value.strip() for name, value in pairs}


def test_events_status_shows_each_field(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/admin/events/status", Reply(200, EVENTS_STATUS))

    result = gopherpay("admin", "events", "status", env=AS_ADMIN)

    assert result.exit_code == 0, result.stderr
    assert details(result.stdout) == {
        "Transport": "kafka",
        "Outbox backlog": "3",
        "Oldest unpublished": "4.2 s ago",
        "Consumer lag": "12",
        "Unhandled events": "2",
        "Dead letters": "5",
        "Awaiting replay": "1",
    }


def test_events_status_in_process_has_no_lag_and_no_backlog_age(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    status = EVENTS_STATUS | {
        "transport": "in-process",
        "consumer_lag": None,
        "oldest_unpublished_age_seconds": None,
    }
    daemon.on("GET", "/v1/admin/events/status", Reply(200, status))

    result = gopherpay("admin", "events", "status", env=AS_ADMIN)

    shown = details(result.stdout)
    assert (shown["Oldest unpublished"], shown["Consumer lag"]) == ("none", "n/a")


def test_events_status_json_prints_the_object(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/admin/events/status", Reply(200, EVENTS_STATUS))

    result = gopherpay("admin", "events", "status", "--json", env=AS_ADMIN)

    assert json.loads(result.stdout) == EVENTS_STATUS


def test_dead_letters_table_says_where_each_replay_stands(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    page = {
        "items": [
            dead_letter(),
            dead_letter(replay_requested_at="2026-11-26T17:00:00Z"),
            dead_letter(replay_requested_at="2026-11-26T17:00:00Z", replayed_at="2026-11-26T17:00:01Z"),
        ],
        "next_cursor": None,
    }
    daemon.on("GET", "/v1/admin/events/dead-letters", Reply(200, page))

    result = gopherpay("admin", "events", "dead-letters", env=AS_ADMIN)

    assert result.exit_code == 0, result.stderr
    assert daemon.requests[0].query == {"limit": "50"}
    rows = [line for line in result.stdout.splitlines() if "transfer.received" in line]
    assert len(rows) == 3
    assert all("novu answered 503" in row and " 5 " in row for row in rows)
    assert "not replayed" in rows[0]
    assert "requested 2026-11-26 17:00:00" in rows[1]
    assert "replayed 2026-11-26 17:00:01" in rows[2]


def test_dead_letters_pending_and_limit_are_sent(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/admin/events/dead-letters", Reply(200, {"items": [], "next_cursor": None}))

    result = gopherpay("admin", "events", "dead-letters", "--pending", "--limit", "10", env=AS_ADMIN)

    assert daemon.requests[0].query == {"pending": "true", "limit": "10"}
    assert (result.stdout, result.stderr) == ("", "No dead letters awaiting replay.\n")


def test_dead_letters_json_prints_the_page(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    page = {"items": [dead_letter()], "next_cursor": None}
    daemon.on("GET", "/v1/admin/events/dead-letters", Reply(200, page))

    result = gopherpay("--json", "admin", "events", "dead-letters", env=AS_ADMIN)

    assert json.loads(result.stdout) == page


def test_replay_one_dead_letter_with_a_reason(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = f"/v1/admin/events/dead-letters/{DEAD_LETTER_ID}/replay"
    requested = dead_letter(replay_requested_at="2026-11-26T17:00:00Z")
    daemon.on("POST", path, Reply(202, requested))

    result = gopherpay(
        "admin", "events", "replay", DEAD_LETTER_ID, "--reason", "novu is back", "--json", env=AS_ADMIN
    )

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", path)[0].body == {"reason": "novu is back"}
    assert json.loads(result.stdout) == requested
    assert result.stderr == (
        f"Requested a replay of dead letter {DEAD_LETTER_ID} (event e0e0e0e0-0000-4000-8000-000000000001).\n"
    )


def test_replay_all_says_how_many(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/admin/events/dead-letters/replay", Reply(202, {"requested": 4}))

    result = gopherpay(
        "admin", "events", "replay", "--all", "--yes", "--reason", "novu is back", env=AS_ADMIN
    )

    assert result.exit_code == 0
    assert daemon.requests[0].body == {"reason": "novu is back"}
    assert (result.stdout, result.stderr) == ("", "Requested a replay of 4 dead letters.\n")


def test_replaying_an_unknown_dead_letter_exits_5(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    path = f"/v1/admin/events/dead-letters/{DEAD_LETTER_ID}/replay"
    daemon.on("POST", path, problem(404, "dead_letter_not_found", f"no dead letter {DEAD_LETTER_ID}"))

    result = gopherpay("admin", "events", "replay", DEAD_LETTER_ID, "--reason", "retry", env=AS_ADMIN)

    assert result.exit_code == 5
    assert result.stderr == (
        f"Error: No dead letter {DEAD_LETTER_ID}\nSee the dead letters: gopherpay admin events dead-letters\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--reason", "r"),
            "Error: Give the ID of the dead letter to replay, or --all\n"
            "See them with: gopherpay admin events dead-letters --pending\n",
        ),
        (
            (DEAD_LETTER_ID, "--all", "--reason", "r"),
            "Error: Give either a dead letter ID or --all, not both\n",
        ),
    ],
)
def test_replay_takes_an_id_or_all(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("admin", "events", "replay", *args, env=AS_ADMIN)

    assert result.exit_code == 2
    assert result.stderr == message
    assert daemon.requests == []


def test_replay_needs_a_reason(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("admin", "events", "replay", "--all", env=AS_ADMIN)

    assert result.exit_code == 2
    assert "Missing option '--reason'" in result.stderr
    assert daemon.requests == []
