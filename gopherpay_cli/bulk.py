"""`gopherpay transfer --from-file`: many payments from a CSV file, safe to run again.

The whole file is read and checked before anything is sent. Every row gets an
idempotency key: its own `key` cell, or one derived from the row itself, so a
second run of the same file (after an interruption, a lost connection, a crash)
replays the rows already done instead of paying them twice. The rows go to
POST /v1/transfers/batch, in chunks (independent mode) or all in one request
(--atomic), and every row gets one result line on stdout.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gopherpay_cli.errors import ApiError, ExitCode, GopherPayError, UsageError, exit_code_for
from gopherpay_cli.money import AmountError, parse_amount, parse_currency
from gopherpay_cli.options import IDEMPOTENCY_KEY_MAX_LENGTH, MEMO_MAX_LENGTH
from gopherpay_cli.render import Renderer

BATCH_PATH = "/v1/transfers/batch"
CHUNK_ROWS = 200
"""Rows per request in independent mode."""
MAX_ATOMIC_ROWS = 1000
"""The daemon's limit for one batch, which an atomic file must fit."""
REQUIRED_COLUMNS = ("to", "amount", "currency")
OPTIONAL_COLUMNS = ("memo", "key")
RESULT_COLUMNS = ("row", "key", "status", "transfer_id", "code")
DERIVED_KEY_LENGTH = 64
"""A hex SHA-256."""
MOVED, REPLAYED, REFUSED = "moved", "replayed", "refused"


@dataclass(frozen=True)
class Payment:
    """One checked row of the file: what to send, under which key."""

    row: int
    """1 for the first row after the header (blank lines are not counted)."""
    recipient: dict[str, str]
    amount_minor: int
    currency: str
    memo: str | None
    key: str

    def item(self) -> dict[str, Any]:
        """The row as an item of POST /v1/transfers/batch."""
        item: dict[str, Any] = {
            "key": self.key,
            **self.recipient,
            "amount": self.amount_minor,
            "currency": self.currency,
        }
        if self.memo is not None:
            item["memo"] = self.memo
        return item


def derived_key(
    prefix: str, file_name: str, row: int, to: str, amount_minor: int, currency: str, memo: str | None
) -> str:
    """PREFIX + hex SHA-256 of the file's name, the row number and the row's to, amount (minor
    units), currency and memo: the same row of the same file always gets the same key."""
    canonical = json.dumps([file_name, row, to, amount_minor, currency, memo], ensure_ascii=False)
    return prefix + hashlib.sha256(canonical.encode()).hexdigest()


def check_key_prefix(prefix: str) -> str:
    room = IDEMPOTENCY_KEY_MAX_LENGTH - DERIVED_KEY_LENGTH
    if len(prefix) > room or not (prefix.isascii() and prefix.isprintable()):
        raise UsageError(f"--key-prefix must be at most {room} printable ASCII characters")
    return prefix


def read_payments(path: Path, key_prefix: str) -> list[Payment]:
    """Every row of the file, checked; the first bad row is a usage error naming it."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _parse(file, path.name, key_prefix)
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text: {error.reason} at byte {error.start}") from None
    except csv.Error as error:
        raise UsageError(f"{path} is not valid CSV: {error}") from None
    except OSError as error:
        raise UsageError(f"Cannot read {path}: {error.strerror or error}") from None


def _parse(file: TextIO, file_name: str, key_prefix: str) -> list[Payment]:
    reader = csv.reader(file, strict=True)
    header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
    if header is None:
        raise UsageError(f"{file_name} is empty: it needs a header row ({','.join(REQUIRED_COLUMNS)})")
    columns = [cell.strip().lower() for cell in header]
    _check_header(file_name, columns)
    payments: list[Payment] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        row = len(payments) + 1
        where = f"{file_name} row {row} (line {reader.line_num})"
        if len(cells) != len(columns):
            raise UsageError(f"{where} has {len(cells)} fields; the header has {len(columns)}")
        values = dict(zip(columns, (cell.strip() for cell in cells), strict=True))
        try:
            payments.append(_payment(row, values, file_name, key_prefix))
        except (AmountError, ValueError) as error:
            raise UsageError(f"{where}: {error}") from None
    if not payments:
        raise UsageError(f"{file_name} has a header and no rows: nothing to send")
    return payments


def _check_header(file_name: str, columns: list[str]) -> None:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    unknown = [column for column in columns if column not in known]
    if unknown:
        raise UsageError(
            f"{file_name}: unknown column {unknown[0]!r} in the header",
            hint=f"The columns are {', '.join(known)} (memo and key may be left out).",
        )
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        raise UsageError(f"{file_name}: column {repeated[0]!r} appears twice in the header")
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise UsageError(f"{file_name}: the header has no {missing[0]!r} column")


def _payment(row: int, values: dict[str, str], file_name: str, key_prefix: str) -> Payment:
    to = values["to"]
    if not to:
        raise ValueError("'to' is empty: give an email address or a wallet id")
    recipient = recipient_of(to)
    currency = parse_currency(values["currency"]).code
    amount = parse_amount(values["amount"], currency)
    memo = values.get("memo") or None
    if memo is not None and len(memo) > MEMO_MAX_LENGTH:
        raise ValueError(f"the memo is at most {MEMO_MAX_LENGTH} characters, got {len(memo)}")
    key = values.get("key") or derived_key(key_prefix, file_name, row, to, amount, currency, memo)
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValueError(f"the key must be 1-{IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters")
    return Payment(row, recipient, amount, currency, memo, key)


def recipient_of(to: str) -> dict[str, str]:
    """`to_wallet_id` when `to` is a wallet id (a UUID), else `to_email`."""
    try:
        return {"to_wallet_id": str(uuid.UUID(to))}
    except ValueError:
        pass
    if "@" not in to:
        raise ValueError(f"'to' must be an email address or a wallet id, got {to!r}")
    return {"to_email": to}


def chunks(payments: list[Payment], atomic: bool) -> list[list[Payment]]:
    """The requests to send: all rows at once (atomic), else CHUNK_ROWS at a time."""
    if atomic:
        if len(payments) > MAX_ATOMIC_ROWS:
            raise UsageError(
                f"--atomic sends the whole file in one request, which holds at most {MAX_ATOMIC_ROWS} "
                f"rows; this file has {len(payments)}. Nothing was sent.",
                hint="Split the file, or leave out --atomic to pay each row on its own.",
            )
        return [payments]
    return [payments[start : start + CHUNK_ROWS] for start in range(0, len(payments), CHUNK_ROWS)]


@dataclass(frozen=True)
class RowResult:
    payment: Payment
    result: dict[str, Any]
    """The daemon's result for the row's item."""

    @property
    def moved(self) -> bool:
        return self.result.get("status") == 201

    @property
    def status_word(self) -> str:
        if not self.moved:
            return REFUSED
        return REPLAYED if self.result.get("replayed") else MOVED

    @property
    def code(self) -> str:
        problem = self.result.get("problem")
        return str(problem.get("code", "")) if isinstance(problem, dict) else ""

    @property
    def transfer_id(self) -> str:
        transfer = self.result.get("transfer")
        return str(transfer.get("id", "")) if isinstance(transfer, dict) else ""


class ResultLines:
    """One line per row on stdout, written as soon as its chunk is answered: CSV with a
    header (row,key,status,transfer_id,code), or with --json one JSON object per line."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._csv: Callable[[Iterable[Sequence[str | int]]], None] | None = None

    def write(self, results: Sequence[RowResult]) -> None:
        if self.renderer.json_output:
            for result in results:
                line = {"row": result.payment.row, **{k: v for k, v in result.result.items() if k != "index"}}
                self.renderer.json_line(line)
            return
        if self._csv is None:
            self._csv = self.renderer.csv_stream(RESULT_COLUMNS)
        self._csv([r.payment.row, r.payment.key, r.status_word, r.transfer_id, r.code] for r in results)


def progress_wanted(renderer: Renderer, stream: TextIO) -> bool:
    """A progress bar only for a person watching: stderr is a terminal and --quiet is off."""
    return not renderer.quiet and stream.isatty()


@contextmanager
def progress_bar(total: int, shown: bool) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr counting rows; `advance(rows)` moves it on."""
    if not shown:
        yield lambda _rows: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr)
    columns = (
        TextColumn("Paying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    # Result lines printed to a terminal stdout go above the bar; to a pipe they go straight there.
    with Progress(
        *columns, console=console, redirect_stdout=sys.stdout.isatty(), redirect_stderr=False
    ) as progress:
        task = progress.add_task("paying", total=total)
        yield lambda rows: progress.advance(task, rows)


def send(
    client: Any,
    payments: list[Payment],
    *,
    atomic: bool,
    lines: ResultLines,
    advance: Callable[[int], None],
    rerun_hint: str,
) -> list[RowResult]:
    """Send every chunk in order, writing each chunk's result lines as it is answered."""
    done: list[RowResult] = []
    mode = "atomic" if atomic else "independent"
    for chunk in chunks(payments, atomic):
        try:
            reply = client.move_money_batch(BATCH_PATH, {"mode": mode, "items": [p.item() for p in chunk]})
        except GopherPayError as error:
            raise _interrupted(error, done, len(payments), rerun_hint) from None
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(chunk):
            raise GopherPayError(
                "The daemon's answer to the batch has no result for every row", ExitCode.FAILURE, rerun_hint
            )
        answered = [RowResult(payment, dict(result)) for payment, result in zip(chunk, results, strict=True)]
        lines.write(answered)
        advance(len(chunk))
        done.extend(answered)
    return done


def _interrupted(error: GopherPayError, done: list[RowResult], total: int, rerun_hint: str) -> GopherPayError:
    """The error that stopped the run, saying what was done and how to finish safely."""
    if isinstance(error, ApiError) and error.status in (400, 413, 422):
        return error  # the daemon refused the request itself: running it again would not help
    answered = f"{len(done)} of {total} rows were answered (see the results above)" if done else ""
    hint = "\n".join(part for part in (answered, rerun_hint, error.hint) if part)
    return GopherPayError(error.message, error.exit_code, hint)


def outcome_error(results: list[RowResult], atomic: bool) -> GopherPayError | None:
    """None when every row moved; else the error to exit with, coded as the first refused row
    would be for a single transfer (linked_failed rows are never the cause)."""
    refused = [result for result in results if not result.moved]
    if not refused:
        return None
    cause = next((r for r in refused if r.code != "linked_failed"), refused[0])
    exit_code = exit_code_for(int(cause.result.get("status", 0)), cause.code)
    if atomic:
        message = f"Nothing moved: row {cause.payment.row} was refused ({cause.code})"
    else:
        message = (
            f"{len(refused)} of {len(results)} rows were refused (first: row {cause.payment.row}, "
            f"{cause.code}); the other rows moved"
        )
    return GopherPayError(message, exit_code)
