"""Output for scripts, through the real executable: JSON errors, --json FIELDS, --jq,
--all / --cursor streaming page by page, the export progress counter, --timeout."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import AS_ALICE, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, Request, problem
from tests.cli.terminal import run_in_terminal

WALLET = {
    "id": "a11ce000-0000-4000-8000-000000000001",
    "currency": "USD",
    "balance": 1234,
    "held": 0,
    "available": 1234,
    "frozen": False,
    "created_at": "2026-11-26T16:34:27.123456Z",
}


def numbered_transfer(number: int) -> dict[str, Any]:
    return transfer(amount=number + 1, transfer_id=f"7f3a9c1e-1111-4000-8000-{number:012d}")


def paged(total: int, gate: threading.Event | None = None) -> Callable[[Request], Reply]:
    """GET /v1/transfers over `total` transfers, newest first: the cursor is the next index.
    With `gate`, the last page waits until the test sets it."""

    def handle(request: Request) -> Reply:
        start = int(request.query.get("cursor", "0"))
        size = int(request.query["limit"])
        end = min(start + size, total)
        if gate is not None and end == total and not gate.wait(20):
            return problem(500, "gate_never_opened", "the test never opened the gate")
        items = [numbered_transfer(number) for number in range(start, end)]
        return Reply(200, {"items": items, "next_cursor": str(end) if end < total else None})

    return handle


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (409, "insufficient_funds", 4),
        (409, "wallet_frozen", 4),
        (403, "email_not_verified", 4),
    ],
)
def test_json_errors_are_the_problem_document_on_stderr(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], status: int, code: str, exit_code: int
) -> None:
    daemon.on("POST", "/v1/transfers", problem(status, code, f"refused: {code}", wallet_id="w-1"))

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", "--json", env=AS_ALICE)

    assert result.exit_code == exit_code
    assert result.stdout == ""
    document = json.loads(result.stderr)
    assert document["code"] == code
    assert document["status"] == status
    assert document["detail"] == f"refused: {code}"
    assert document["wallet_id"] == "w-1"  # the daemon's extension members are kept
    assert document["exit_code"] == exit_code
    assert result.stderr.count("\n") == 1


def test_without_json_the_error_stays_one_line_of_text(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("POST", "/v1/transfers", problem(409, "wallet_frozen", "Your USD wallet is frozen"))

    result = gopherpay("transfer", "--yes", "12.34", "USD", "--to", "bob@example.com", env=AS_ALICE)

    assert result.exit_code == 4
    assert result.stderr.startswith("Error: Your USD wallet is frozen\n")


def test_errors_found_by_the_cli_itself_are_json_too(gopherpay: Callable[..., Run]) -> None:
    usage = gopherpay("--json", "transfer", "1.234", "USD", "--to", "bob@example.com", env=AS_ALICE)
    unreachable = gopherpay(
        "--json", "--server", "http://127.0.0.1:9", "balance", env={**AS_ALICE, "GOPHERPAY_SERVER": ""}
    )

    assert usage.exit_code == 2
    assert json.loads(usage.stderr) == {
        "code": "usage_error",
        "detail": "USD amounts have at most 2 decimals: 1.234",
        "exit_code": 2,
    }
    assert unreachable.exit_code == 7
    assert json.loads(unreachable.stderr)["code"] == "daemon_unreachable"


def test_json_fields_keeps_only_those_fields(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET))
    daemon.on("GET", "/v1/transfers", paged(3))

    balance = gopherpay("balance", "USD", "--json", "currency,available", env=AS_ALICE)
    history = gopherpay("--json=id,amount", "history", env=AS_ALICE)

    assert balance.exit_code == 0, balance.stderr
    assert json.loads(balance.stdout) == {"currency": "USD", "available": 1234}
    assert history.exit_code == 0, history.stderr
    assert json.loads(history.stdout)["items"] == [
        {"id": numbered_transfer(number)["id"], "amount": number + 1} for number in range(3)
    ]


def test_json_is_still_a_flag_before_a_command_or_a_currency(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET))

    before_command = gopherpay("--json", "balance", "usd", env=AS_ALICE)
    before_currency = gopherpay("balance", "--json", "usd", env=AS_ALICE)

    assert json.loads(before_command.stdout) == WALLET
    assert json.loads(before_currency.stdout) == WALLET


def test_an_unknown_json_field_names_the_available_ones(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET))

    result = gopherpay("balance", "USD", "--json", "currency,colour", env=AS_ALICE)

    assert result.exit_code == 2
    document = json.loads(result.stderr)
    assert document["detail"] == "Unknown JSON field 'colour'"
    assert document["hint"] == "Available fields: " + ", ".join(sorted(WALLET))


def test_jq_runs_in_process_and_prints_strings_raw(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/transfers", paged(3))
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET))
    no_jq_binary = {**AS_ALICE, "PATH": os.path.dirname(sys.executable)}

    ids = gopherpay("history", "--jq", ".items[].id", env=no_jq_binary)
    amounts = gopherpay("--jq", "{available, currency}", "balance", "USD", env=no_jq_binary)

    assert ids.exit_code == 0, ids.stderr
    assert ids.stdout == "".join(f"{numbered_transfer(number)['id']}\n" for number in range(3))
    assert amounts.stdout == '{"available": 1234, "currency": "USD"}\n'


def test_a_bad_jq_program_is_a_usage_error_before_any_request(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    result = gopherpay("history", "--jq", ".items[", env=AS_ALICE)

    assert result.exit_code == 2
    assert json.loads(result.stderr)["detail"].startswith("--jq: ")
    assert daemon.requests == []


def test_all_fetches_every_page_and_prints_one_json_document(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", paged(450))

    result = gopherpay("history", "--all", "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [item["id"] for item in document["items"]] == [numbered_transfer(n)["id"] for n in range(450)]
    assert document["next_cursor"] is None
    assert [request.query.get("cursor") for request in daemon.seen("GET", "/v1/transfers")] == [
        None,
        "200",
        "400",
    ]


def test_all_with_csv_writes_the_header_once(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/transfers", paged(401))

    result = gopherpay("history", "--all", "--csv", env=AS_ALICE)

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][0] == "created_at"
    assert len(rows) == 402
    assert [row[0] for row in rows[1:]].count("created_at") == 0


def test_cursor_starts_where_an_earlier_page_ended(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/transfers", paged(10))

    first = gopherpay("history", "--limit", "4", "--json", env=AS_ALICE)
    cursor = json.loads(first.stdout)["next_cursor"]
    rest = gopherpay("history", "--cursor", cursor, "--jq", ".items[].amount", env=AS_ALICE)

    assert cursor == "4"
    assert rest.stdout.split() == [str(number + 1) for number in range(4, 10)]


@pytest.mark.parametrize(
    "path",
    [
        ("notifications",),
        ("notifications", "list"),
        ("admin", "users"),
        ("admin", "log"),
        ("sessions", "list"),
        ("wallets", "list"),
        ("tokens", "list"),
        ("currencies",),
    ],
    ids=" ".join,
)
def test_every_list_takes_all_and_cursor(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], path: tuple[str, ...]
) -> None:
    api_path = {
        ("notifications",): "/v1/notifications",
        ("admin", "users"): "/v1/admin/users",
        ("admin", "log"): "/v1/admin/audit-log",
        ("notifications", "list"): "/v1/notifications",
        ("sessions", "list"): "/v1/sessions",
        ("wallets", "list"): "/v1/wallets",
        ("tokens", "list"): "/v1/tokens",
        ("currencies",): "/v1/currencies",
    }[path]
    daemon.on("GET", api_path, Reply(200, {"items": [], "next_cursor": None}))

    result = gopherpay(*path, "--all", "--cursor", "abc", "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"items": [], "next_cursor": None}
    assert daemon.seen("GET", api_path)[0].query["cursor"] == "abc"


def test_all_streams_the_first_line_before_the_last_page_is_fetched(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    gate = threading.Event()
    daemon.on("GET", "/v1/transfers", paged(600, gate))
    process = subprocess.Popen(
        [sys.executable, "-m", "gopherpay_cli", "history", "--all", "--csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**cli_env, **AS_ALICE},
        text=True,
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline()
        first_row = process.stdout.readline()
        # Still here: the last page is held back until the gate opens.
        gate.set()
        rest = process.stdout.read()
        assert process.wait(timeout=60) == 0
    finally:
        gate.set()
        process.kill()
        process.wait()

    assert header.startswith("created_at,")
    assert numbered_transfer(0)["id"] in first_row
    assert len(rest.splitlines()) == 599


def peak_memory_of(args: list[str], env: dict[str, str]) -> int:
    """Run the CLI with stdout thrown away; its peak resident memory in kilobytes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gopherpay_cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read() if process.stderr else ""
    return usage.ru_maxrss


@pytest.mark.parametrize("output", ["--csv", "--json"])
def test_memory_stays_bounded_on_a_100k_transfer_export(
    daemon: FakeDaemon, cli_env: dict[str, str], output: str
) -> None:
    small, large = 2_000, 100_000
    env = {**cli_env, **AS_ALICE}

    daemon.on("GET", "/v1/transfers", paged(small))
    small_peak = peak_memory_of(["history", "--all", output], env)
    daemon.on("GET", "/v1/transfers", paged(large))
    started = time.monotonic()
    large_peak = peak_memory_of(["history", "--all", output], env)

    assert time.monotonic() - started < 600
    # 50 times the transfers; a client holding them all would need well over 100 MB more.
    assert large_peak - small_peak < 20_000, (small_peak, large_peak)


def test_an_export_to_a_file_shows_a_progress_counter_on_a_terminal_stderr(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", paged(450))

    on_terminal = run_in_terminal(
        "history", "--all", "--csv", env={**cli_env, **AS_ALICE}, stderr_is_terminal=True
    )

    assert on_terminal.exit_code == 0
    assert b"Fetched" in on_terminal.terminal
    assert b"450 transfers" in on_terminal.terminal
    assert len(on_terminal.stdout.splitlines()) == 451


def test_no_progress_counter_when_stderr_is_a_pipe(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/transfers", paged(450))

    result = gopherpay("history", "--all", "--csv", env=AS_ALICE)

    assert result.exit_code == 0
    assert result.stderr == ""


def test_timeout_option_and_variable_bound_the_wait_for_an_answer(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET, delay=30))

    started = time.monotonic()
    by_option = gopherpay("--timeout", "0.5", "balance", "USD", env=AS_ALICE)
    by_variable = gopherpay("balance", "USD", env={**AS_ALICE, "GOPHERPAY_TIMEOUT": "0.5"})
    elapsed = time.monotonic() - started

    for result in (by_option, by_variable):
        assert result.exit_code == 7
        assert "did not answer in time" in result.stderr
    assert elapsed < 25  # both gave up long before the answer's 30 s (and the 15 s default)


def test_a_longer_timeout_waits_for_a_slow_answer(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/wallets/USD", Reply(200, WALLET, delay=2))

    result = gopherpay("balance", "USD", "--json", "--timeout", "20", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == WALLET


def test_a_bad_command_line_with_json_is_a_json_error_too(gopherpay: Callable[..., Run]) -> None:
    missing_value = gopherpay("--json", "transfer", "1", "USD", "--to", env=AS_ALICE)
    missing_argument = gopherpay("--json", "admin", "deposit", "bob@example.com", env=AS_ALICE)

    assert (missing_value.exit_code, missing_argument.exit_code) == (2, 2)
    assert json.loads(missing_value.stderr) == {
        "code": "usage_error",
        "detail": "Option '--to' requires an argument.",
        "exit_code": 2,
    }
    assert json.loads(missing_argument.stderr)["detail"] == "Missing argument 'AMOUNT'."


AUDIT_REPORT = {"ok": True, "violations": [], "checked_at": "2026-12-02T12:00:00Z", "checks": []}


def test_an_audit_shows_a_spinner_on_a_terminal_stderr_only(
    daemon: FakeDaemon, cli_env: dict[str, str], gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/admin/audit", Reply(200, AUDIT_REPORT, delay=1.0))

    on_terminal = run_in_terminal(
        "--json", "admin", "audit", env={**cli_env, **AS_ALICE}, stderr_is_terminal=True
    )
    piped = gopherpay("--json", "admin", "audit", env=AS_ALICE)

    assert on_terminal.exit_code == 0
    assert b"Auditing the ledger" in on_terminal.terminal
    assert json.loads(on_terminal.stdout)["ok"] is True
    assert piped.exit_code == 0
    assert "Auditing" not in piped.stderr


def test_an_unknown_field_with_all_prints_nothing_on_stdout(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", paged(250))

    result = gopherpay("history", "--all", "--json", "id,colour", env=AS_ALICE)
    empty = gopherpay("notifications", "--all", "--json", env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert json.loads(result.stderr)["detail"] == "Unknown JSON field 'colour'"
    assert empty.exit_code == 5  # no route in the fake daemon: the error, and nothing on stdout
    assert empty.stdout == ""
