"""notifications: the in-app inbox, listed and marked read, through the real executable."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.cli.conftest import AS_ALICE, Run
from tests.cli.fake_daemon import FakeDaemon, Reply, in_turn, problem

FIRST_ID = "40711f1c-0000-4000-8000-000000000001"
SECOND_ID = "40711f1c-0000-4000-8000-000000000002"


def notification(
    notification_id: str = FIRST_ID,
    title: str = "Money received",
    body: str = "bob@example.com sent you 12.34 USD: lunch",
    read_at: str | None = None,
) -> dict[str, Any]:
    return {
        "id": notification_id,
        "event_id": f"event-{notification_id[-1]}",
        "type": "transfer.received",
        "title": title,
        "body": body,
        "data": {"amount": 1234, "currency": "USD"},
        "created_at": "2026-11-26T16:34:27.123456Z",
        "read_at": read_at,
    }


PAGE = {
    "items": [notification(), notification(SECOND_ID, read_at="2026-11-26T17:00:00Z")],
    "next_cursor": None,
}


def row_of(stdout: str, notification_id: str) -> str:
    return next(line for line in stdout.splitlines() if notification_id in line)


@pytest.mark.parametrize("command", [("notifications",), ("notifications", "list")])
def test_notifications_lists_the_inbox_as_a_table(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], command: tuple[str, ...]
) -> None:
    daemon.on("GET", "/v1/notifications", Reply(200, PAGE))

    result = gopherpay(*command, env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert [r.query for r in daemon.requests] == [{"limit": "50"}]
    header = next(line for line in result.stdout.splitlines() if "date" in line)
    assert [word for word in header.split() if word.isalpha()] == [
        "date",
        "type",
        "notification",
        "read",
        "id",
    ]
    unread = row_of(result.stdout, FIRST_ID)
    for text in ("2026-11-26 16:34:27", "transfer.received", "Money received — bob@example.com sent you"):
        assert text in unread
    assert "\tno\t" in unread and "\tyes\t" in row_of(result.stdout, SECOND_ID)


@pytest.mark.parametrize(
    "command", [("notifications", "--unread"), ("notifications", "list", "--unread", "--limit", "5")]
)
def test_unread_asks_the_daemon_for_unread_ones_only(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], command: tuple[str, ...]
) -> None:
    daemon.on("GET", "/v1/notifications", Reply(200, {"items": [], "next_cursor": None}))

    result = gopherpay(*command, env=AS_ALICE)

    assert result.exit_code == 0
    assert daemon.requests[0].query["unread"] == "true"
    assert (result.stdout, result.stderr) == ("", "No unread notifications.\n")


def test_the_limit_follows_the_cursor(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    first = {"items": [notification()], "next_cursor": "c2"}
    second = {"items": [notification(SECOND_ID)], "next_cursor": "c3"}
    daemon.on("GET", "/v1/notifications", in_turn([Reply(200, first), Reply(200, second)]))

    result = gopherpay("--json", "notifications", "--limit", "2", env=AS_ALICE)

    assert [r.query for r in daemon.requests] == [{"limit": "2"}, {"limit": "1", "cursor": "c2"}]
    assert json.loads(result.stdout) == {"items": first["items"] + second["items"], "next_cursor": "c3"}


@pytest.mark.parametrize(
    "command",
    [("--json", "notifications"), ("notifications", "--json"), ("notifications", "--unread", "--json")],
)
def test_json_prints_the_page_as_returned(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], command: tuple[str, ...]
) -> None:
    daemon.on("GET", "/v1/notifications", Reply(200, PAGE))

    result = gopherpay(*command, env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == PAGE


def test_an_empty_inbox_says_so_on_stderr(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("GET", "/v1/notifications", Reply(200, {"items": [], "next_cursor": None}))

    result = gopherpay("notifications", env=AS_ALICE)

    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "No notifications.\n")


def test_read_marks_each_id_in_turn(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    for notification_id in (FIRST_ID, SECOND_ID):
        marked = notification(notification_id, read_at="2026-11-26T17:00:00Z")
        daemon.on("POST", f"/v1/notifications/{notification_id}/read", Reply(200, marked))

    result = gopherpay("notifications", "read", FIRST_ID, SECOND_ID, env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in daemon.requests] == [
        ("POST", f"/v1/notifications/{FIRST_ID}/read"),
        ("POST", f"/v1/notifications/{SECOND_ID}/read"),
    ]
    assert result.stderr == (f"Marked notification {FIRST_ID} read.\nMarked notification {SECOND_ID} read.\n")


def test_read_json_prints_the_marked_notifications(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    marked = notification(read_at="2026-11-26T17:00:00Z")
    daemon.on("POST", f"/v1/notifications/{FIRST_ID}/read", Reply(200, marked))

    result = gopherpay("--quiet", "notifications", "read", FIRST_ID, "--json", env=AS_ALICE)

    assert (result.exit_code, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {"items": [marked]}


def test_read_all_says_how_many_were_marked(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/notifications/read-all", Reply(200, {"marked": 3}))

    result = gopherpay("notifications", "read", "--all", env=AS_ALICE)

    assert result.exit_code == 0
    assert [(r.method, r.path, r.body) for r in daemon.requests] == [
        ("POST", "/v1/notifications/read-all", None)
    ]
    assert (result.stdout, result.stderr) == ("", "Marked 3 notifications read.\n")


def test_read_all_json_prints_the_count_object(daemon: FakeDaemon, gopherpay: Callable[..., Run]) -> None:
    daemon.on("POST", "/v1/notifications/read-all", Reply(200, {"marked": 1}))

    result = gopherpay("--json", "notifications", "read", "--all", env=AS_ALICE)

    assert json.loads(result.stdout) == {"marked": 1}
    assert result.stderr == "Marked 1 notification read.\n"


def test_reading_an_unknown_notification_exits_5_and_points_to_the_list(
    daemon: FakeDaemon, gopherpay: Callable[..., Run]
) -> None:
    daemon.on(
        "POST",
        f"/v1/notifications/{FIRST_ID}/read",
        problem(404, "notification_not_found", f"no notification {FIRST_ID}"),
    )

    result = gopherpay("notifications", "read", FIRST_ID, SECOND_ID, env=AS_ALICE)

    assert result.exit_code == 5
    assert result.stderr == (
        f"Error: No notification {FIRST_ID}\nSee your notifications: gopherpay notifications\n"
    )
    assert len(daemon.requests) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("read",),
            "Error: Give the ids of the notifications to mark read, or --all\n"
            "See their ids with: gopherpay notifications --unread\n",
        ),
        (("read", FIRST_ID, "--all"), "Error: Give either notification ids or --all, not both\n"),
        (
            ("--unread", "read", FIRST_ID),
            "Error: --unread and --limit go with listing, not with: notifications read\n",
        ),
    ],
)
def test_read_usage_errors_send_nothing(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], args: tuple[str, ...], message: str
) -> None:
    result = gopherpay("notifications", *args, env=AS_ALICE)

    assert result.exit_code == 2
    assert result.stderr == message
    assert daemon.requests == []
