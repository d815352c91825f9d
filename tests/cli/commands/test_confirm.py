"""Before money moves: the question on a terminal, --yes, --no-input, --dry-run.

The question is asked on a real pseudo-terminal, as in a person's shell; the cases
without a terminal run with stdin on a pipe, as in a script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.cli.conftest import AS_ALICE, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, Request, problem

AS_ADMIN = {"GOPHERPAY_TOKEN": "admin-access"}
SEND = ("transfer", "12.34", "USD", "--to", "bob@example.com", "--memo", "lunch")
QUESTION = "Send 12.34 USD to Bob Builder <bob@example.com>? [y/N] "


@dataclass
class Answered:
    exit_code: int
    terminal: str
    """What the terminal showed (the program's stdin and stderr are on it), CRLF as LF."""
    stdout: str


def run_in_terminal(
    *args: str, env: dict[str, str], typed: bytes = b"", interrupt: bool = False, **_: object
) -> Answered:
    """`gopherpay ARGS` with stdin and stderr on a pseudo-terminal, typing `typed` once the
    question `[y/N] ` is on screen (as a person would: before it, the echo would come first).

    `interrupt`: press Ctrl-C at the question instead (SIGINT, which the terminal would send
    to the program in the foreground).
    """
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "gopherpay_cli", *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**env, "NO_COLOR": "1"},
        )
    finally:
        os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + 60
    try:
        typed_yet = not (typed or interrupt)
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the program has exited and closed the terminal
                break
            if not chunk:
                break
            shown.extend(chunk)
            if not typed_yet and shown.endswith(b"[y/N] "):
                if interrupt:
                    process.send_signal(signal.SIGINT)
                else:
                    os.write(master, typed)
                typed_yet = True
        stdout, _ = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
        os.close(master)
    return Answered(process.returncode, shown.decode().replace("\r\n", "\n"), stdout.decode())


def named(moved: dict[str, Any]) -> dict[str, Any]:
    """The transfer with the full names a real daemon fills in."""
    moved["sender"]["full_name"] = "Alice Liddell"
    moved["recipient"]["full_name"] = "Bob Builder"
    return moved


def preview_or_move(moved: dict[str, Any]) -> Callable[[Request], Reply]:
    """The daemon's two answers on one route: a preview for ?dry_run=true, else the move."""

    def answer(request: Request) -> Reply:
        if request.query.get("dry_run") == "true":
            fee = {"amount": 0, "currency": moved["currency"]}
            return Reply(200, {"dry_run": True, "transfer": moved, "fee": fee})
        return Reply(201, moved)

    return answer


def kinds_of_requests(daemon: FakeDaemon, path: str) -> list[str]:
    return ["dry run" if r.query.get("dry_run") else "real" for r in daemon.seen("POST", path)]


def test_on_a_terminal_transfer_names_the_payee_amount_and_fee_and_sends_on_yes(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/transfers", preview_or_move(named(transfer())))

    run = run_in_terminal(
        *SEND, env={**cli_env, **AS_ALICE}, stdin_is_terminal=True, stderr_is_terminal=True, typed=b"y\n"
    )

    assert run.exit_code == 0, run.terminal
    assert run.terminal.startswith(
        "  From:   Alice Liddell <alice@example.com>\n"
        "  To:     Bob Builder <bob@example.com>\n"
        "  Amount: 12.34 USD\n"
        "  Fee:    0.00 USD\n"
        "  Memo:   lunch\n"
        f"{QUESTION}y\n"
        f"Sent 12.34 USD to bob@example.com (transfer {TRANSFER_ID})\n"
    )
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run", "real"]
    dry_run, real = daemon.seen("POST", "/v1/transfers")
    assert dry_run.body == real.body
    assert "idempotency-key" not in dry_run.headers


@pytest.mark.parametrize("typed", [b"n\n", b"\n", b"maybe\n"])
def test_on_a_terminal_anything_but_yes_cancels_and_sends_nothing(
    daemon: FakeDaemon, cli_env: dict[str, str], typed: bytes
) -> None:
    daemon.on("POST", "/v1/transfers", preview_or_move(named(transfer())))

    run = run_in_terminal(
        *SEND, env={**cli_env, **AS_ALICE}, stdin_is_terminal=True, stderr_is_terminal=True, typed=typed
    )

    assert run.exit_code == 1
    assert run.terminal.endswith(f"{QUESTION}{typed.decode()}Error: Cancelled: nothing moved\n")
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run"]


def test_a_refusal_comes_before_the_question(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    detail = "wallet a11ce000 has 5.00 USD, transfer needs 12.34 USD"
    daemon.on("POST", "/v1/transfers", problem(409, "insufficient_funds", detail))

    run = run_in_terminal(*SEND, env={**cli_env, **AS_ALICE}, stdin_is_terminal=True, stderr_is_terminal=True)

    assert run.exit_code == 4
    assert "[y/N]" not in run.terminal
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run"]


@pytest.mark.parametrize(
    "args",
    [
        SEND,
        ("transfer", "100", "USD", "--to", "bob@example.com", "--receive", "EUR"),
        ("admin", "deposit", "alice@example.com", "5", "USD", "--reason", "cash"),
        ("admin", "withdraw", "alice@example.com", "5", "USD", "--reason", "cash"),
        ("admin", "reverse", TRANSFER_ID, "--reason", "mistake"),
        ("admin", "freeze", "alice@example.com", "--reason", "fraud"),
        ("admin", "unfreeze", "alice@example.com", "--wallet", "USD", "--reason", "cleared"),
        ("admin", "events", "replay", "--all", "--reason", "novu is back"),
    ],
    ids=[
        "transfer",
        "transfer-receive",
        "deposit",
        "withdraw",
        "reverse",
        "freeze",
        "unfreeze",
        "replay-all",
    ],
)
def test_without_a_terminal_these_refuse_unless_yes_and_send_nothing(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...]
) -> None:
    piped = gopherpay(*args, stdin="y\n", env=AS_ADMIN)
    no_input = gopherpay("--no-input", *args, env=AS_ADMIN)

    assert piped.exit_code == 2
    assert piped.stderr.startswith("Error: Not asking to ")
    assert piped.stderr.splitlines()[0].endswith(": stdin is not a terminal")
    assert piped.stderr.splitlines()[1] == (
        "Pass --yes to go ahead without confirming, or --dry-run to only check it."
    )
    assert no_input.exit_code == 2
    assert no_input.stderr.startswith("Error: --yes is required to ")
    assert no_input.stderr.endswith(" when --no-input is set\n")
    assert daemon.requests == []


def test_yes_sends_at_once_without_a_dry_run(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/transfers", preview_or_move(named(transfer())))

    result = gopherpay(*SEND, "--yes", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert kinds_of_requests(daemon, "/v1/transfers") == ["real"]


def test_dry_run_says_what_would_happen_and_moves_nothing(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", preview_or_move(named(transfer())))

    result = gopherpay(*SEND, "--dry-run", env=AS_ALICE)
    as_json = gopherpay("--json", *SEND, "--dry-run", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        "Dry run: the daemon would send 12.34 USD to Bob Builder <bob@example.com>. Nothing moved.\n"
    )
    assert result.stdout.splitlines() == [
        "From\tAlice Liddell <alice@example.com>",
        "To\tBob Builder <bob@example.com>",
        "Amount\t12.34 USD",
        "Fee\t0.00 USD",
        "Memo\tlunch",
    ]
    assert json.loads(as_json.stdout)["fee"] == {"amount": 0, "currency": "USD"}
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run", "dry run"]


def test_a_dry_run_refused_exits_with_the_refusal_code(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", problem(404, "recipient_not_found", "no account for bob@example.com"))

    result = gopherpay(*SEND, "--dry-run", env=AS_ALICE)

    assert result.exit_code == 5
    assert result.stderr == "Error: No account for bob@example.com\n"


def test_operator_deposit_asks_on_a_terminal_naming_the_customer(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    deposited = named(transfer(amount=500, direction=None, kind="deposit", memo=None))
    deposited["sender"] = {
        "wallet_id": "sys",
        "user_id": None,
        "email": None,
        "full_name": None,
        "system": True,
    }
    deposited["recipient"]["full_name"] = "Alice Liddell"
    deposited["recipient"]["email"] = "alice@example.com"
    daemon.on("POST", "/v1/admin/deposits", preview_or_move(deposited))

    run = run_in_terminal(
        "admin", "deposit", "alice@example.com", "5", "USD", "--reason", "cash",
        env={**cli_env, **AS_ADMIN}, stdin_is_terminal=True, stderr_is_terminal=True, typed=b"yes\n",
    )  # fmt: skip

    assert run.exit_code == 0, run.terminal
    assert "Deposit 5.00 USD into the wallet of Alice Liddell <alice@example.com>? [y/N] yes" in run.terminal
    assert kinds_of_requests(daemon, "/v1/admin/deposits") == ["dry run", "real"]


def test_freeze_asks_on_a_terminal_and_freezes_on_yes(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    path = "/v1/admin/users/alice@example.com/freeze"
    daemon.on("POST", path, Reply(200, {"id": "u", "email": "alice@example.com", "frozen": True}))

    run = run_in_terminal(
        "admin", "freeze", "alice@example.com", "--reason", "fraud",
        env={**cli_env, **AS_ADMIN}, stdin_is_terminal=True, stderr_is_terminal=True, typed=b"y\n",
    )  # fmt: skip

    assert run.exit_code == 0, run.terminal
    assert "Freeze the account of alice@example.com? [y/N] y" in run.terminal
    assert len(daemon.seen("POST", path)) == 1


def test_ctrl_c_at_the_question_exits_130_and_sends_nothing(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("POST", "/v1/transfers", preview_or_move(named(transfer())))

    run = run_in_terminal(
        *SEND, env={**cli_env, **AS_ALICE}, stdin_is_terminal=True, stderr_is_terminal=True, interrupt=True
    )

    assert run.exit_code == 130
    assert run.terminal.endswith(f"{QUESTION}\n")
    assert kinds_of_requests(daemon, "/v1/transfers") == ["dry run"]
