"""The one place that writes output: tables, JSON and CSV on stdout; messages on stderr.

Results go to stdout (a rich table for people, `--json` or CSV for programs);
everything else (progress, confirmations, warnings, errors) goes to stderr so
a pipeline only ever sees data. rich is imported on first use, not at start-up.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from gopherpay_cli.errors import GopherPayError

if TYPE_CHECKING:
    from gopherpay_cli.scripting import OutputFilter

PIPE_WIDTH = 200
"""Table width when stdout is not a terminal, so ids are not wrapped mid-way."""

FORMULA_STARTS = ("=", "+", "-", "@")
"""What makes a spreadsheet read a CSV cell as a formula (OWASP, CSV injection)."""


_no_color_flag = False


def disable_colour() -> None:
    """`--no-color`: no colour on any stream, as NO_COLOR does."""
    global _no_color_flag
    _no_color_flag = True


def dumb_terminal() -> bool:
    """TERM=dumb: a terminal that cannot draw boxes or show colour (an editor's shell)."""
    return os.environ.get("TERM") == "dumb"


def colour_enabled(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with NO_COLOR (https://no-color.org), --no-color
    or TERM=dumb."""
    return stream.isatty() and not (os.environ.get("NO_COLOR") or _no_color_flag or dumb_terminal())


def plain_cell(text: str) -> str:
    """A cell of a tab-separated line: printable, with no tab or line break inside."""
    return printable(text.replace("\t", " ").replace("\n", " ").replace("\r", " "))


def printable(text: str) -> str:
    """`text` with control characters replaced, so another user's memo cannot drive the
    terminal with escape sequences."""
    return "".join(char if char.isprintable() else "\N{REPLACEMENT CHARACTER}" for char in text)


def spreadsheet_safe(cell: str | int) -> str | int:
    """A CSV cell that no spreadsheet runs as a formula.

    A text cell starting with = + - @ (also after leading spaces), a tab or a CR gets a
    leading single quote, as the OWASP CSV-injection guidance says; numbers stay numbers.
    """
    if isinstance(cell, str) and (cell.lstrip().startswith(FORMULA_STARTS) or cell.startswith(("\t", "\r"))):
        return "'" + cell
    return cell


_PLAIN_FIRST_WORD = re.compile(r"[a-z]+(?=[\s,;:]|$)")


def sentence_case(message: str) -> str:
    """The message with a capital first letter, as every error line has, whether the CLI or
    the daemon wrote it; a message starting with a flag, an email or an id keeps its case."""
    if _PLAIN_FIRST_WORD.match(message):
        return message[:1].upper() + message[1:]
    return message


def report_error(error: GopherPayError, *, as_json: bool = False) -> None:
    """`Error: <message>` and the hint, if any, on stderr; with `as_json`, the problem
    document as one line of JSON instead (see gopherpay_cli.scripting)."""
    if as_json:
        from gopherpay_cli.scripting import error_document

        print(json.dumps(error_document(error)), file=sys.stderr)
        return
    prefix = "Error:"
    if colour_enabled(sys.stderr):
        prefix = f"\x1b[1;31m{prefix}\x1b[0m"
    print(f"{prefix} {printable(sentence_case(error.message))}", file=sys.stderr)
    field_errors = getattr(error, "field_errors", ())
    if len(field_errors) > 1:  # a single one is already the message
        for line in field_errors:
            print(f"  {printable(line)}", file=sys.stderr)
    if error.hint:
        # A hint may put a command to copy on a line of its own.
        for line in error.hint.split("\n"):
            print(printable(line), file=sys.stderr)


def fitted_widths(
    columns: Sequence[str], cells: Sequence[Sequence[str]], truncated: Sequence[str], width: int
) -> list[int | None]:
    """Column widths that fit `width`: each column as wide as its longest cell, except that
    the `truncated` ones share what is left (at least 8 characters each). None: rich's choice,
    for a table without columns that may be cut."""
    if not truncated:
        return [None] * len(columns)
    longest = [
        max([len(column), *(len(row[index]) for row in cells)]) for index, column in enumerate(columns)
    ]
    gaps = 2 * (len(columns) - 1)
    fixed = sum(w for column, w in zip(columns, longest, strict=True) if column not in truncated)
    room = max(width - gaps - fixed, 0)
    wanted = [w for column, w in zip(columns, longest, strict=True) if column in truncated]
    shares = _share(room, wanted)
    given = iter(shares)
    return [next(given) if column in truncated else w for column, w in zip(columns, longest, strict=True)]


def _share(room: int, wanted: Sequence[int], floor: int = 8) -> list[int]:
    """Split `room` among columns wanting `wanted` characters: the narrow ones get all they
    want, the others split the rest evenly (never below `floor`)."""
    shares = [0] * len(wanted)
    left = list(range(len(wanted)))
    while left:
        fair = room // len(left)
        satisfied = [i for i in left if wanted[i] <= fair]
        if not satisfied:
            for i in left:
                shares[i] = max(fair, floor)
            break
        for i in satisfied:
            shares[i] = wanted[i]
            room -= wanted[i]
            left.remove(i)
    return shares


class Renderer:
    """Writes a command's result in the format the user asked for."""

    def __init__(self, *, json_output: bool, quiet: bool, output_filter: OutputFilter | None = None) -> None:
        self.json_output = json_output
        self.quiet = quiet
        self.output_filter = output_filter
        """--json FIELDS / --jq EXPR: what to print of each JSON document."""
        self._one_table = False
        self._header_written = False

    @contextmanager
    def one_table(self) -> Iterator[None]:
        """Tables written inside read as one (a list printed page by page): off a terminal only
        the first writes its header line, so the tab-separated lines stay one table."""
        self._one_table, self._header_written = True, False
        try:
            yield
        finally:
            self._one_table = False

    def info(self, message: str) -> None:
        """An informational message on stderr; `--quiet` silences it."""
        if not self.quiet:
            print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        """A message on stderr that `--quiet` does not silence."""
        print(message, file=sys.stderr)

    def json(self, data: Any) -> None:
        """An API object on stdout, exactly as the daemon returned it (or what --json FIELDS
        and --jq keep of it)."""
        if self.output_filter is not None and self.output_filter.active:
            for text in self.output_filter.texts(data):
                print(text, flush=True)
            return
        print(json.dumps(data, indent=2))

    def json_line(self, data: Any) -> None:
        """An API object as one line of NDJSON on stdout, flushed so a pipe gets it at once."""
        if self.output_filter is not None and self.output_filter.active:
            for text in self.output_filter.texts(data, indent=None):
                print(text, flush=True)
            return
        print(json.dumps(data), flush=True)

    def line(self, text: str) -> None:
        """One line of a live feed on stdout, flushed so a pipe gets it at once."""
        print(printable(text), flush=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        right_aligned: Sequence[str] = (),
        truncated: Sequence[str] = (),
    ) -> None:
        """A table on stdout; `right_aligned` names the columns holding amounts.

        On a terminal it fits the width: `truncated` columns (free text) are cut with an
        ellipsis, the others fold. To a pipe or a file: one tab-separated line per row after
        a header line, no box drawing, nothing cut. On TERM=dumb: aligned, without box lines.
        """
        if not sys.stdout.isatty():
            if not (self._one_table and self._header_written):
                print("\t".join(plain_cell(column) for column in columns))
            self._header_written = True
            for row in rows:
                print("\t".join(plain_cell(cell) for cell in row))
            return
        from rich.table import Table

        console = self._console()
        cells = [[printable(cell) for cell in row] for row in rows]
        widths = fitted_widths(columns, cells, truncated, console.width)
        # No box: two spaces between columns, a bold header, so a row is one line of text.
        table = Table(header_style="bold", highlight=False, box=None, pad_edge=False)
        for column, width in zip(columns, widths, strict=True):
            table.add_column(
                column,
                justify="right" if column in right_aligned else "left",
                overflow="ellipsis" if column in truncated else "fold",
                no_wrap=column in truncated,
                width=width,
            )
        for row in cells:
            table.add_row(*row)
        console.print(table)

    def details(self, pairs: Sequence[tuple[str, str]]) -> None:
        """One record as a two-column table of field and value (tab-separated to a pipe)."""
        if not sys.stdout.isatty():
            for name, value in pairs:
                print(f"{plain_cell(name)}\t{plain_cell(value)}")
            return
        from rich.table import Table

        table = Table(show_header=False, highlight=False, box=None, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for name, value in pairs:
            table.add_row(name, printable(value))
        self._console().print(table)

    def csv(self, header: Sequence[str], rows: Iterable[Sequence[str | int]]) -> None:
        """RFC 4180 CSV with a header row on stdout; text cells are made spreadsheet-safe.

        Rows end in CRLF, so a cell holding a CR or an LF is quoted and stays one cell.
        On a terminal, control and bidi characters are replaced as in the tables (no cell
        holds a line break then, and the terminal ends lines itself); to a file or a pipe
        every character is kept.
        """
        terminal = sys.stdout.isatty()
        writer = csv.writer(sys.stdout, lineterminator="\n" if terminal else "\r\n")
        for row in (header, *rows):
            cells = [spreadsheet_safe(cell) for cell in row]
            if terminal:
                cells = [printable(cell) if isinstance(cell, str) else cell for cell in cells]
            writer.writerow(cells)

    def csv_stream(self, header: Sequence[str]) -> Callable[[Iterable[Sequence[str | int]]], None]:
        """CSV as `csv` writes it, a few rows at a time: the header now, then each call's rows,
        flushed so a pipe gets them at once (a long job's results as they come)."""
        terminal = sys.stdout.isatty()
        writer = csv.writer(sys.stdout, lineterminator="\n" if terminal else "\r\n")

        def write(rows: Iterable[Sequence[str | int]]) -> None:
            for row in rows:
                cells = [spreadsheet_safe(cell) for cell in row]
                if terminal:
                    cells = [printable(cell) if isinstance(cell, str) else cell for cell in cells]
                writer.writerow(cells)
            sys.stdout.flush()

        write([header])
        return write

    def _console(self) -> Any:
        from rich.console import Console

        terminal = sys.stdout.isatty()
        return Console(
            file=sys.stdout,
            no_color=not colour_enabled(sys.stdout),
            # Cells hold user text (names, memos): never read it as markup or emoji codes.
            markup=False,
            emoji=False,
            highlight=False,
            width=None if terminal or os.environ.get("COLUMNS") else PIPE_WIDTH,
        )
