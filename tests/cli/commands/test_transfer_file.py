"""`gopherpay transfer --from-file`: a CSV of payments, checked whole, sent in chunks, one line per row."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gopherpay_cli.bulk import derived_key
from tests.cli.conftest import AS_ALICE, BOB_USD_WALLET, Run, transfer
from tests.cli.fake_daemon import FakeDaemon, Reply, Request, problem

BATCH = "/v1/transfers/batch"


def write_csv(path: Path, rows: list[list[str]], header: str = "to,amount,currency,memo,key") -> Path:
    lines = [header, *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def moved(item: dict[str, Any], index: int, replayed: bool = False) -> dict[str, Any]:
    body = transfer(amount=item["amount"], currency=item["currency"], memo=item.get("memo"))
    body["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, item["key"]))
    return {
        "index": index,
        "key": item["key"],
        "status": 201,
        "replayed": replayed,
        "transfer": body,
        "problem": None,
    }


def refused(item: dict[str, Any], index: int, status: int, code: str) -> dict[str, Any]:
    body = {"type": f"https://gopherpay.dev/problems/{code}", "status": status, "code": code, "detail": code}
    return {
        "index": index,
        "key": item["key"],
        "status": status,
        "replayed": False,
        "transfer": None,
        "problem": body,
    }


def batch_daemon(
    decide: Callable[[dict[str, Any], int], dict[str, Any]] = moved,
) -> Callable[[Request], Reply]:
    """Answers each batch item by item with `decide(item, index)`; atomic batches all or nothing."""

    def handle(request: Request) -> Reply:
        items = request.body["items"]
        results = [decide(item, index) for index, item in enumerate(items)]
        status = 200
        if request.body["mode"] == "atomic":
            status = 201 if all(r["status"] == 201 for r in results) else 409
        return Reply(status, {"mode": request.body["mode"], "results": results})

    return handle


def csv_lines(stdout: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(stdout)))


def test_every_row_is_sent_with_its_own_or_a_derived_key_and_gets_a_result_line(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    daemon.on("POST", BATCH, batch_daemon())
    payments = write_csv(
        tmp_path / "payments.csv",
        [
            ["bob@example.com", "12.34", "usd", "lunch", ""],
            [BOB_USD_WALLET, '"1,000"', "VND", "", "my-key-2"],
            ["carol@example.com", "5", "USD", "", ""],
        ],
    )

    result = gopherpay("transfer", "--from-file", str(payments), env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    [request] = daemon.seen("POST", BATCH)
    assert "idempotency-key" not in request.headers
    first_key = derived_key("", "payments.csv", 1, "bob@example.com", 1234, "USD", "lunch")
    third_key = derived_key("", "payments.csv", 3, "carol@example.com", 500, "USD", None)
    assert request.body == {
        "mode": "independent",
        "items": [
            {
                "key": first_key,
                "to_email": "bob@example.com",
                "amount": 1234,
                "currency": "USD",
                "memo": "lunch",
            },
            {"key": "my-key-2", "to_wallet_id": BOB_USD_WALLET, "amount": 1000, "currency": "VND"},
            {"key": third_key, "to_email": "carol@example.com", "amount": 500, "currency": "USD"},
        ],
    }
    assert len(first_key) == 64 and first_key != third_key
    lines = csv_lines(result.stdout)
    assert lines[0] == ["row", "key", "status", "transfer_id", "code"]
    assert [line[:3] for line in lines[1:]] == [
        ["1", first_key, "moved"],
        ["2", "my-key-2", "moved"],
        ["3", third_key, "moved"],
    ]
    assert lines[1][3] == str(uuid.uuid5(uuid.NAMESPACE_URL, first_key))
    assert "Paid all 3 rows of payments.csv" in result.stderr
    assert "Paying" not in result.stderr  # no progress bar on a pipe


def test_derived_keys_depend_on_the_file_name_the_row_and_the_prefix(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    daemon.on("POST", BATCH, batch_daemon())
    rows = [["bob@example.com", "1", "USD", "", ""], ["bob@example.com", "1", "USD", "", ""]]
    write_csv(tmp_path / "a.csv", rows)
    (tmp_path / "elsewhere").mkdir()
    write_csv(tmp_path / "elsewhere" / "a.csv", rows)

    runs = [
        gopherpay("transfer", "--from-file", str(tmp_path / "a.csv"), env=AS_ALICE),
        gopherpay("transfer", "--from-file", str(tmp_path / "elsewhere" / "a.csv"), env=AS_ALICE),
        gopherpay("transfer", "--from-file", str(tmp_path / "a.csv"), "--key-prefix", "again-", env=AS_ALICE),
    ]

    assert [run.exit_code for run in runs] == [0, 0, 0]
    keys = [[item["key"] for item in request.body["items"]] for request in daemon.seen("POST", BATCH)]
    assert keys[0][0] != keys[0][1]  # two equal rows are two payments
    assert keys[1] == keys[0]  # the same file in another folder: the same payments
    assert keys[2] == ["again-" + key for key in keys[0]]


def test_rows_go_in_chunks_of_200_and_all_at_once_with_atomic(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    daemon.on("POST", BATCH, batch_daemon())
    payments = write_csv(
        tmp_path / "many.csv",
        [[f"u{i}@example.com", "0.01", "USD"] for i in range(450)],
        "to,amount,currency",
    )

    chunked = gopherpay("transfer", "--from-file", str(payments), env=AS_ALICE)
    sizes = [len(r.body["items"]) for r in daemon.seen("POST", BATCH)]
    daemon.requests.clear()
    atomic = gopherpay("transfer", "--from-file", str(payments), "--atomic", env=AS_ALICE)

    assert (chunked.exit_code, atomic.exit_code) == (0, 0)
    assert sizes == [200, 200, 50]
    [one] = daemon.seen("POST", BATCH)
    assert (one.body["mode"], len(one.body["items"])) == ("atomic", 450)
    assert [line[0] for line in csv_lines(chunked.stdout)[1:]] == [str(i) for i in range(1, 451)]


def test_more_than_1000_rows_with_atomic_is_refused_before_sending(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    payments = write_csv(
        tmp_path / "big.csv", [["bob@example.com", "0.01", "USD"]] * 1001, "to,amount,currency"
    )

    result = gopherpay("transfer", "--from-file", str(payments), "--atomic", env=AS_ALICE)

    assert (result.exit_code, result.stdout) == (2, "")
    assert "--atomic sends the whole file in one request, which holds at most 1000 rows" in result.stderr
    assert "this file has 1001. Nothing was sent." in result.stderr
    assert daemon.requests == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "to,amount,currency\nbob@example.com,12.345,USD\n",
            "payments.csv row 1 (line 2): USD amounts have at most 2 decimals: 12.345",
        ),
        (
            "to,amount,currency\nbob@example.com,1,USD\nbob@example.com,1,XXX\n",
            "payments.csv row 2 (line 3): Unsupported currency 'XXX'",
        ),
        (
            "to,amount,currency\nbob@example.com,1,USD\n\nbob,1,USD\n",
            "payments.csv row 2 (line 4): 'to' must be an email address or a wallet id, got 'bob'",
        ),
        (
            "to,amount,currency\nbob@example.com,-1,USD\n",
            "payments.csv row 1 (line 2): The amount must be greater than zero: -1",
        ),
        (
            "to,amount,currency\nbob@example.com,1\n",
            "payments.csv row 1 (line 2) has 2 fields; the header has 3",
        ),
        (
            "to,amount,currency,memo\nbob@example.com,1,USD," + "m" * 281 + "\n",
            "the memo is at most 280 characters, got 281",
        ),
        (
            "to,amount,currency,key\nbob@example.com,1,USD,caf\u00e9\n",
            "the key must be 1-200 printable ASCII characters",
        ),
        ("to,amount,curency\n", "payments.csv: unknown column 'curency' in the header"),
        ("to,amount\n", "payments.csv: the header has no 'currency' column"),
        ("to,amount,currency,to\n", "payments.csv: column 'to' appears twice in the header"),
        ("to,amount,currency\n", "payments.csv has a header and no rows: nothing to send"),
        ("", "payments.csv is empty"),
    ],
)
def test_a_bad_file_is_a_usage_error_naming_the_row_and_nothing_is_sent(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path, content: str, message: str
) -> None:
    payments = tmp_path / "payments.csv"
    payments.write_text(content, encoding="utf-8")

    result = gopherpay("transfer", "--from-file", str(payments), env=AS_ALICE)

    assert (result.exit_code, result.stdout) == (2, "")
    assert message in result.stderr
    assert daemon.requests == []


def test_refused_rows_are_reported_and_the_exit_status_is_the_first_refusals(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    def decide(item: dict[str, Any], index: int) -> dict[str, Any]:
        if item["amount"] == 999:
            return refused(item, index, 409, "insufficient_funds")
        if item["to_email"] == "nobody@example.com":
            return refused(item, index, 404, "recipient_not_found")
        return moved(item, index, replayed=index == 0)

    daemon.on("POST", BATCH, batch_daemon(decide))
    payments = write_csv(
        tmp_path / "p.csv",
        [
            ["bob@example.com", "1", "USD"],
            ["bob@example.com", "9.99", "USD"],
            ["nobody@example.com", "1", "USD"],
            ["bob@example.com", "2", "USD"],
        ],
        "to,amount,currency",
    )

    result = gopherpay("transfer", "--from-file", str(payments), env=AS_ALICE)

    assert result.exit_code == 4, result.stderr
    lines = csv_lines(result.stdout)[1:]
    assert [(line[0], line[2], line[4]) for line in lines] == [
        ("1", "replayed", ""),
        ("2", "refused", "insufficient_funds"),
        ("3", "refused", "recipient_not_found"),
        ("4", "moved", ""),
    ]
    assert lines[1][3] == ""
    assert (
        "Error: 2 of 4 rows were refused (first: row 2, insufficient_funds); the other rows moved"
        in result.stderr
    )


def test_an_atomic_file_that_moved_nothing_reports_the_culprit_and_the_linked_rows(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    def decide(item: dict[str, Any], index: int) -> dict[str, Any]:
        if item["to_email"] == "nobody@example.com":
            return refused(item, index, 404, "recipient_not_found")
        return refused(item, index, 409, "linked_failed")

    daemon.on("POST", BATCH, batch_daemon(decide))
    payments = write_csv(
        tmp_path / "p.csv",
        [["bob@example.com", "1", "USD"], ["nobody@example.com", "1", "USD"]],
        "to,amount,currency",
    )

    result = gopherpay("transfer", "--from-file", str(payments), "--atomic", env=AS_ALICE)

    assert result.exit_code == 5, result.stderr
    assert [(line[2], line[4]) for line in csv_lines(result.stdout)[1:]] == [
        ("refused", "linked_failed"),
        ("refused", "recipient_not_found"),
    ]
    assert "Error: Nothing moved: row 2 was refused (recipient_not_found)" in result.stderr


def test_json_prints_the_daemons_result_for_each_row_one_per_line(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    daemon.on("POST", BATCH, batch_daemon())
    payments = write_csv(
        tmp_path / "p.csv",
        [["bob@example.com", "1", "USD", "a", "k1"], ["bob@example.com", "2", "USD", "", "k2"]],
    )

    result = gopherpay("transfer", "--from-file", str(payments), "--json", env=AS_ALICE)

    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["row"], line["key"], line["status"], line["replayed"]) for line in lines] == [
        (1, "k1", 201, False),
        (2, "k2", 201, False),
    ]
    assert lines[0]["transfer"]["amount"] == 100 and lines[0]["problem"] is None
    assert "index" not in lines[0]


def test_a_daemon_failing_mid_way_keeps_the_lines_done_and_says_how_to_finish(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path
) -> None:
    answer = batch_daemon()
    calls: list[int] = []

    def first_chunk_only(request: Request) -> Reply:
        calls.append(len(request.body["items"]))
        if len(calls) == 1:
            return answer(request)
        return problem(503, "try_again", "the ledger was busy")

    daemon.on("POST", BATCH, first_chunk_only)
    payments = write_csv(
        tmp_path / "p.csv", [[f"u{i}@example.com", "1", "USD"] for i in range(250)], "to,amount,currency"
    )

    result = gopherpay("transfer", "--from-file", str(payments), env=AS_ALICE)

    assert result.exit_code == 1, result.stderr
    assert calls == [200, 50, 50, 50, 50]  # the failing chunk was sent again with the same keys
    assert [line[0] for line in csv_lines(result.stdout)[1:]] == [str(i) for i in range(1, 201)]
    assert "200 of 250 rows were answered (see the results above)" in result.stderr
    assert (
        "Run the same command again to finish: rows already done are replayed, never paid twice."
        in result.stderr
    )
    resent = daemon.seen("POST", BATCH)
    assert resent[1].body == resent[2].body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("5", "USD", "--from-file", "{file}"), "AMOUNT does not go with --from-file"),
        (("--from-file", "{file}", "--to", "bob@example.com"), "--to does not go with --from-file"),
        (
            ("--from-file", "{file}", "--idempotency-key", "k"),
            "--idempotency-key does not go with --from-file",
        ),
        (("5", "USD", "--to", "bob@example.com", "--atomic"), "--atomic goes with --from-file"),
        (("5", "USD", "--to", "bob@example.com", "--key-prefix", "x"), "--key-prefix goes with --from-file"),
        (("5", "USD"), "Give AMOUNT CURRENCY --to EMAIL|WALLET_ID, or --from-file CSV"),
        (
            ("--from-file", "{file}", "--key-prefix", "\u00e9"),
            "--key-prefix must be at most 136 printable ASCII",
        ),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(
    daemon: FakeDaemon, gopherpay: Callable[..., Run], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    payments = write_csv(tmp_path / "p.csv", [["bob@example.com", "1", "USD"]], "to,amount,currency")

    result = gopherpay("transfer", *(arg.format(file=payments) for arg in args), env=AS_ALICE)

    assert result.exit_code == 2
    assert message in result.stderr
    assert daemon.requests == []
