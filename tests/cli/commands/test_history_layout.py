"""history for people: 80 columns on a terminal, local time with its offset, plain lines to a pipe."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.cli.conftest import AS_ALICE, TRANSFER_ID, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, problem
from tests.cli.terminal import run_in_terminal

PARIS = "CET-1CEST,M3.5.0,M10.5.0/3"
"""Central European time as a POSIX TZ rule, so no zone database is needed."""
LONG_MEMO = "dinner at the little Italian place on the corner of Fifth and Main with everyone"
BOX_DRAWING = re.compile("[\u2500-\u257f]")
SGR = re.compile(r"\x1b\[[0-9;]*m")
"""A terminal style sequence (bold, colour)."""
RED = "\x1b[1;31m"


def busy_history() -> dict[str, object]:
    """A page of transfers with long names, memos and amounts, like a real account's."""
    long_name = transfer(amount=123_456_789, memo=LONG_MEMO)
    long_name["recipient"]["email"] = "bartholomew.the-third@subsidiary.example.com"
    deposit = transfer(
        amount=100_000, direction="in", transfer_id="7f3a9c1e-1111-4000-8000-000000000002",
        memo=None, kind="deposit", created_at="2026-11-25T08:05:00Z",
    )  # fmt: skip
    deposit["sender"] = {
        "wallet_id": "sys",
        "user_id": None,
        "email": None,
        "full_name": None,
        "system": True,
    }
    return {"items": [long_name, transfer(), deposit], "next_cursor": None}


def on_terminal(cli_env: dict[str, str], *args: str, **env: str) -> list[str]:
    run = run_in_terminal(
        "history", *args, env={**cli_env, **AS_ALICE, "COLUMNS": "80", "TZ": PARIS, **env},
        stdout_is_terminal=True,
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    return run.terminal.decode().replace("\r\n", "\n").splitlines()


def test_history_fits_80_columns_one_line_per_transfer_in_local_time(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, busy_history()))

    lines = on_terminal(cli_env, "--no-color")

    assert max(len(SGR.sub("", line)) for line in lines) <= 80, "\n".join(lines)
    header, *rows = [line for line in lines if line.strip()]
    assert SGR.sub("", header).split() == ["date", "(+01:00)", "amount", "counterparty", "memo", "id"]
    assert len(rows) == 3, "\n".join(lines)
    assert rows[0].startswith("2026-11-26 17:34  -1,234,567.89 USD  bartholomew")
    assert "…" in rows[0] and rows[0].endswith(TRANSFER_ID[:8])
    assert rows[1].startswith("2026-11-26 17:34         -12.34 USD  bob@example.com")
    assert rows[2].startswith("2026-11-25 09:05       1,000.00 USD  outside world")


def test_utc_keeps_utc_and_says_so(daemon: FakeDaemon, cli_env: dict[str, str]) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, busy_history()))

    lines = run_in_terminal(
        "--utc", "--no-color", "history",
        env={**cli_env, **AS_ALICE, "COLUMNS": "80", "TZ": PARIS}, stdout_is_terminal=True,
    ).terminal.decode().splitlines()  # fmt: skip

    assert "date (+00:00)" in SGR.sub("", lines[0])
    assert lines[1].startswith("2026-11-26 16:34")


def test_wide_shows_every_column_with_seconds_offsets_and_full_ids(
    daemon: FakeDaemon, cli_env: dict[str, str]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, busy_history()))

    lines = on_terminal(cli_env, "--wide", COLUMNS="300")

    header = ["date", "kind", "direction", "amount", "counterparty", "memo", "id"]
    assert SGR.sub("", lines[0]).split() == header
    assert lines[2].startswith("2026-11-26 17:34:27 +01:00  transfer  out")
    assert lines[2].rstrip().endswith(TRANSFER_ID) and LONG_MEMO in lines[1]


def test_to_a_pipe_history_is_tab_separated_lines_without_box_drawing(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, busy_history()))

    result = gopherpay("history", env={**AS_ALICE, "TZ": PARIS})

    assert result.exit_code == 0, result.stderr
    assert not BOX_DRAWING.search(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == "date\tkind\tdirection\tamount\tcounterparty\tmemo\tid"
    assert lines[2] == (
        f"2026-11-26 17:34:27 +01:00\ttransfer\tout\t-12.34 USD\tbob@example.com\tlunch\t{TRANSFER_ID}"
    )
    assert lines[3].startswith("2026-11-25 09:05:00 +01:00\tdeposit\tin\t1,000.00 USD\toutside world\t\t")


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--no-color",), {}), ((), {"NO_COLOR": "1"}), ((), {"TERM": "dumb"}), ((), {})],
    ids=["--no-color", "NO_COLOR", "TERM=dumb", "colour"],
)
def test_no_colour_on_a_terminal_when_asked(
    daemon: FakeDaemon, cli_env: dict[str, str], args: tuple[str, ...], env: dict[str, str]
) -> None:
    """An error on a terminal is red, unless --no-color, NO_COLOR or TERM=dumb says no."""
    daemon.on("GET", "/v1/transfers", problem(401, "token_expired", "your session has expired"))

    run = run_in_terminal(
        *args, "history", env={**cli_env, **AS_ALICE, "TERM": "xterm", **env},
        stdout_is_terminal=True, stderr_is_terminal=True,
    )  # fmt: skip

    shown = run.terminal.decode()
    assert run.exit_code == 3 and "Your session has expired" in shown
    assert (RED in shown) == (not args and not env)


@pytest.mark.parametrize(
    ("utc", "since", "until"),
    [
        ((), "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00"),
        (("--utc",), "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
    ],
    ids=["local", "utc"],
)
def test_since_and_until_dates_are_whole_local_days(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], utc: tuple[str, ...], since: str, until: str
) -> None:
    daemon.on("GET", "/v1/transfers", Reply(200, {"items": [], "next_cursor": None}))

    result = gopherpay(
        *utc, "history", "--since", "2026-11-01", "--until", "2026-11-30", env={**AS_ALICE, "TZ": PARIS}
    )

    assert result.exit_code == 0, result.stderr
    query = daemon.seen("GET", "/v1/transfers")[0].query
    assert (query["since"], query["until"]) == (since, until)
