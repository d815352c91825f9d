"""hold and holds: what the CLI sends and shows, against the fake daemon."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.commands.test_confirm import run_in_terminal
from tests.cli.conftest import AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, Reply, problem

HOLD_ID = "401d0000-0000-4000-8000-000000000001"
PATH = f"/v1/holds/{HOLD_ID}"


def a_hold(**changes: Any) -> dict[str, Any]:
    hold = {
        "id": HOLD_ID,
        "status": "open",
        "amount": 5_000,
        "currency": "USD",
        "captured": 0,
        "released": 0,
        "remaining": 5_000,
        "expires_at": "2026-12-05T10:00:00Z",
        "memo": "flat deposit",
        "payer": {
            "wallet_id": "w1",
            "user_id": "u1",
            "email": "alice@example.com",
            "full_name": None,
            "system": False,
        },
        "payee": {
            "wallet_id": "w2",
            "user_id": "u2",
            "email": "bob@example.com",
            "full_name": None,
            "system": False,
        },
        "created_at": "2026-12-03T10:00:00Z",
        "updated_at": "2026-12-03T10:00:00Z",
        "role": "payer",
        "capture": None,
    }
    return hold | changes


def test_hold_sends_minor_units_and_the_expiry_in_seconds(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/holds", Reply(201, a_hold()))

    result = gopherpay(
        "hold", "50", "USD", "--to", "bob@example.com", "--expires", "2d", "--memo", "flat deposit", "--yes",
        env=AS_ALICE,
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    [sent] = daemon.seen("POST", "/v1/holds")
    assert sent.body == {
        "to": "bob@example.com",
        "amount": 5_000,
        "currency": "USD",
        "expires_in": 172_800,
        "memo": "flat deposit",
    }
    assert sent.headers["idempotency-key"]
    assert result.stderr.startswith(f"Held 50.00 USD for bob@example.com (hold {HOLD_ID})\n")
    assert "Remaining\t50.00 USD" in result.stdout


@pytest.mark.parametrize("expires", ["2 days", "soon", "0s", "-1d", ""])
def test_hold_refuses_an_expiry_that_is_not_a_duration(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], expires: str
) -> None:
    result = gopherpay(
        "hold", "50", "USD", "--to", "bob@example.com", "--expires", expires, "--yes", env=AS_ALICE
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --expires must be")
    assert daemon.requests == []


def test_without_a_terminal_hold_refuses_unless_yes(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("hold", "50", "USD", "--to", "bob@example.com", "--expires", "2d", env=AS_ALICE)

    assert result.exit_code == 2
    assert "Not asking to hold money: stdin is not a terminal" in result.stderr
    assert daemon.requests == []


def test_on_a_terminal_hold_asks_first_and_holds_on_yes(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    daemon.on("POST", "/v1/holds", Reply(201, a_hold()))

    run = run_in_terminal(
        "hold", "50", "USD", "--to", "bob@example.com", "--expires", "2d",
        env={**cli_env, **AS_ALICE}, typed=b"y\n",
    )  # fmt: skip

    assert run.exit_code == 0, run.terminal
    assert "Hold 50.00 USD for bob@example.com for 2d? [y/N] y\n" in run.terminal
    assert len(daemon.seen("POST", "/v1/holds")) == 1


def test_on_a_terminal_no_cancels_a_void(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    daemon.on("GET", PATH, Reply(200, a_hold()))

    run = run_in_terminal("holds", "void", HOLD_ID, env={**cli_env, **AS_ALICE}, typed=b"n\n")

    assert run.exit_code == 1
    assert f"Void hold {HOLD_ID}, releasing 50.00 USD to the payer? [y/N] n\n" in run.terminal
    assert daemon.seen("POST", f"{PATH}/void") == []


def test_capture_of_part_reads_the_hold_for_its_currency_and_sends_the_amount(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    captured = a_hold(
        captured=1_500, remaining=3_500, capture={"id": "t1", "amount": 1_500, "currency": "USD"}
    )
    daemon.on("GET", PATH, Reply(200, a_hold()))
    daemon.on("POST", f"{PATH}/capture", Reply(201, captured))

    result = gopherpay("holds", "capture", HOLD_ID, "15", "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", f"{PATH}/capture")[0].body == {"amount": 1_500}
    assert result.stderr.startswith(f"Paid 15.00 USD to bob@example.com from hold {HOLD_ID}\n")


def test_capture_without_an_amount_takes_everything_left(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", PATH, Reply(200, a_hold()))
    daemon.on("POST", f"{PATH}/capture", Reply(201, a_hold(status="captured", captured=5_000, remaining=0)))

    result = gopherpay("--json", "holds", "capture", HOLD_ID, "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert daemon.seen("POST", f"{PATH}/capture")[0].body == {}
    assert json.loads(result.stdout)["status"] == "captured"


def test_an_expired_hold_is_a_refusal_with_its_exit_code(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", PATH, Reply(200, a_hold()))
    daemon.on(
        "POST", f"{PATH}/capture", problem(409, "hold_expired", f"hold {HOLD_ID} expired at 2026-12-05")
    )

    result = gopherpay("holds", "capture", HOLD_ID, "--yes", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr == f"Error: Hold {HOLD_ID} expired at 2026-12-05\n"


def test_void_decline_and_extend_post_to_their_routes(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", PATH, Reply(200, a_hold()))
    for action in ("void", "decline", "extend"):
        daemon.on(
            "POST", f"{PATH}/{action}", Reply(201, a_hold(status="voided", released=5_000, remaining=0))
        )

    runs = [
        gopherpay("holds", "void", HOLD_ID, "--yes", env=AS_ALICE),
        gopherpay("holds", "decline", HOLD_ID, "--yes", env=AS_ALICE),
        gopherpay("holds", "extend", HOLD_ID, "--expires", "1d", "--yes", env=AS_ALICE),
    ]

    assert [run.exit_code for run in runs] == [0, 0, 0]
    assert daemon.seen("POST", f"{PATH}/extend")[0].body == {"expires_in": 86_400}
    assert runs[0].stderr.startswith(f"Voided hold {HOLD_ID}; 50.00 USD released in all\n")
    assert runs[1].stderr.startswith(f"Declined hold {HOLD_ID}")
    keys = {
        daemon.seen("POST", f"{PATH}/{a}")[0].headers["idempotency-key"]
        for a in ("void", "decline", "extend")
    }
    assert len(keys) == 3


def test_holds_lists_and_filters_open_ones(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/holds", Reply(200, {"items": [a_hold()], "next_cursor": None}))

    listed = gopherpay("holds", "--open", env=AS_ALICE)

    assert listed.exit_code == 0, listed.stderr
    [request] = daemon.seen("GET", "/v1/holds")
    assert request.query.get("open") == "true"
    header, row = [line.split("\t") for line in listed.stdout.splitlines()]
    assert header == ["created", "status", "role", "amount", "remaining", "counterparty", "expires", "id"]
    assert (row[1], row[2], row[3], row[5], row[7]) == (
        "open",
        "payer",
        "50.00 USD",
        "bob@example.com",
        HOLD_ID,
    )


def test_not_a_hold_id_is_a_usage_error(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    result = gopherpay("holds", "void", "abc", "--yes", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Not a hold id: 'abc'")
    assert daemon.requests == []


def test_balance_shows_posted_held_and_available(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    wallet = {
        "id": "w1",
        "currency": "USD",
        "balance": 10_000,
        "posted": 10_000,
        "held": 2_500,
        "available": 7_500,
    }
    daemon.on(
        "GET", "/v1/wallets/USD", Reply(200, wallet | {"frozen": False, "created_at": "x", "closed_at": None})
    )

    result = gopherpay("balance", "USD", env=AS_ALICE)

    assert result.stdout.splitlines() == [
        "currency\tbalance\theld\tavailable\tfrozen\twallet id",
        "USD\t100.00 USD\t25.00 USD\t75.00 USD\tno\tw1",
    ]
