"""Lists: `--limit`, `--cursor` and `--all` for every list command, the same way.

Without `--all` a list is at most `--limit` items, from `--cursor` on (the
`next_cursor` an earlier `--json` page printed). With `--all` every item is fetched
and printed page by page as it arrives: the first line is out before the last page
is fetched, and only one page is held at a time, so exporting 100,000 transfers takes
no more memory than exporting 200. A progress counter goes to stderr while an
export runs, only when stderr is a terminal and stdout is not (a file or a pipe);
`waiting_spinner` does the same for one long request, such as an audit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from gopherpay_cli.state import AppState

PAGE_SIZE = 200
"""Items per request: the daemon's largest page."""

AllOption = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Every item, fetched and printed page by page as it arrives (--limit does not "
        "apply). With --json the output is still one JSON document.",
    ),
]
CursorOption = Annotated[
    str | None,
    typer.Option(
        "--cursor",
        metavar="CURSOR",
        help="Start where an earlier page ended: its next_cursor (printed with --json).",
    ),
]

CsvRows = tuple[Sequence[str], Callable[[dict[str, Any]], Sequence[str | int]]]
"""A CSV header, and the row for one item."""


def show_list(
    state: AppState,
    path: str,
    params: Mapping[str, str | int],
    *,
    limit: int,
    every: bool,
    cursor: str | None,
    show_page: Callable[[dict[str, Any]], None],
    noun: str,
    csv_rows: CsvRows | None = None,
    authenticated: bool = True,
) -> None:
    """Fetch a list and print it: `show_page` prints one page (JSON, table or CSV).
    `authenticated` False: a public list (currencies), fetched without logging in."""
    client = state.client()
    if not every:
        show_page(
            client.get_pages(
                path, params, limit=limit, page_size=PAGE_SIZE, cursor=cursor, authenticated=authenticated
            )
        )
        return
    renderer = state.renderer
    pages = client.iter_pages(path, params, page_size=PAGE_SIZE, cursor=cursor, authenticated=authenticated)
    shown = sys.stderr.isatty() and not sys.stdout.isatty() and not renderer.quiet
    with progress_counter(noun, shown) as advance:
        if renderer.json_output and not (renderer.output_filter and renderer.output_filter.runs_jq):
            _stream_json_document(state, pages, advance)
        elif renderer.json_output:
            for page in pages:
                renderer.json(page)  # the jq program runs on each page
                advance(len(page["items"]))
        elif csv_rows is not None:
            header, row = csv_rows
            write = renderer.csv_stream(header)
            for page in pages:
                write([row(item) for item in page["items"]])
                advance(len(page["items"]))
        else:
            with renderer.one_table():
                for page in pages:
                    show_page(page)
                    sys.stdout.flush()  # a pipe gets each page as it arrives
                    advance(len(page["items"]))


def _stream_json_document(
    state: AppState, pages: Iterator[dict[str, Any]], advance: Callable[[int], None]
) -> None:
    """`{"items": [...], "next_cursor": null}`, the list's own shape, one item per line,
    written as the pages arrive (with --json FIELDS, only those fields of each item)."""
    output_filter = state.renderer.output_filter
    out = sys.stdout
    # Opened at the first item, after its fields were checked: an unknown --json field is
    # an error before anything is printed.
    separator = '{"items": [\n  '
    last_cursor = None
    for page in pages:
        for item in page["items"]:
            selected = output_filter.select(item) if output_filter is not None else item
            out.write(separator + json.dumps(selected))
            separator = ",\n  "
        last_cursor = page["next_cursor"]
        out.flush()
        advance(len(page["items"]))
    if separator.startswith("{"):
        out.write('{"items": [')  # an empty list
    out.write(f'\n], "next_cursor": {json.dumps(last_cursor)}}}\n')
    out.flush()


@contextmanager
def progress_counter(noun: str, shown: bool) -> Iterator[Callable[[int], None]]:
    """A running count of the items fetched, on stderr; `advance(items)` moves it on."""
    if not shown:
        yield lambda _items: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("Fetched {task.completed:,.0f} " + noun),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(file=sys.stderr), redirect_stdout=False) as progress:
        task = progress.add_task("fetching", total=None)
        yield lambda items: progress.advance(task, items)


@contextmanager
def waiting_spinner(what: str, shown: bool) -> Iterator[None]:
    """A spinner and the time waited on stderr while one long request runs (an audit)."""
    if not shown:
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(what + "…"), TimeElapsedColumn())
    with Progress(
        *columns, console=Console(file=sys.stderr), transient=True, redirect_stdout=False
    ) as progress:
        progress.add_task(what, total=None)
        yield
