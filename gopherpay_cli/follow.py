"""`gopherpay history --follow`: new transfers printed as they happen, until Ctrl-C.

The daemon's event stream (GET /v1/stream, Server-Sent Events) starts with the
events committed after the request, so nothing from before is printed, like
`tail -f` without a backlog. Each `transfer` event is a history row (with
`--json`, one Transfer per line: NDJSON); each `notification` event is a line
on stderr (skipped with `--json`, which carries transfers only).

The connection is kept up for good: when it drops, falls silent for longer than
three keep-alives, or the daemon answers 5xx or 429, the CLI connects again
after a pause (0.2 s doubling to 5 s, back to the start once data flows) and
sends `Last-Event-ID`, so no event is missed or printed twice. An expired access
token is refreshed as for any request; other 4xx answers end the command with
their usual exit code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gopherpay_cli import views
from gopherpay_cli.errors import ApiError, DaemonUnreachable, ExitCode
from gopherpay_cli.render import Renderer, printable
from gopherpay_cli.sse import EventStreamDecoder, ServerSentEvent
from gopherpayd.vocabulary import StreamFrame

if TYPE_CHECKING:
    from gopherpay_cli.client import ApiClient

STREAM_PATH = "/v1/stream"
READ_TIMEOUT = 45.0
"""Seconds without a byte (the daemon sends a keep-alive every 15 s) before the stream counts as dead."""
FIRST_DELAY = 0.2
MAX_DELAY = 5.0


@dataclass(frozen=True)
class TransferFilter:
    """`--currency` and `--direction`, applied to each transfer as it arrives."""

    currency: str | None = None
    direction: str | None = None

    def matches(self, transfer: dict[str, Any]) -> bool:
        return (self.currency is None or transfer.get("currency") == self.currency) and (
            self.direction is None or transfer.get("direction") == self.direction
        )


class Backoff:
    """Pauses between reconnection attempts: `first`, doubling up to `cap`."""

    def __init__(self, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> None:
        self.first = first
        self.cap = cap
        self._next = first
        self._at_least = 0.0

    def next_delay(self) -> float:
        delay = max(self._next, self._at_least)
        self._next = min(self._next * 2, max(self.cap, self.first))
        self._at_least = 0.0
        return delay

    def postpone(self, seconds: float) -> None:
        """Make the next pause at least `seconds` (a 429's Retry-After)."""
        self._at_least = seconds

    def reset(self, first: float | None = None) -> None:
        """Start again from the first pause; `first` replaces it (the server's `retry:`)."""
        if first is not None:
            self.first = first
        self._next = self.first


class Follower:
    """One `history --follow`: one event stream, kept connected and printed until Ctrl-C."""

    def __init__(
        self,
        client: ApiClient,
        renderer: Renderer,
        transfer_filter: TransferFilter,
        *,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._client = client
        self._renderer = renderer
        self._filter = transfer_filter
        self._read_timeout = read_timeout
        self._decoder = EventStreamDecoder()
        self._backoff = Backoff()
        self._highest_id: int | None = None
        self._rows_printed = 0
        self._ever_connected = False
        self._outage_announced = False

    def run(self) -> None:
        """Print events until Ctrl-C; an error that reconnecting cannot fix is raised."""
        try:
            while True:
                reason = self._follow_until_cut()
                if not self._outage_announced:
                    self._outage_announced = True
                    self._renderer.info(f"{reason}; reconnecting.")
                time.sleep(self._backoff.next_delay())
        except KeyboardInterrupt:
            self._renderer.info("Stopped following.")
            # 128 + SIGINT, as for every command Ctrl-C stops: a script can tell it from an end.
            raise SystemExit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # Whoever read stdout is gone (`... --follow --json | head -n 1`): stop quietly,
            # and keep Python from failing again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _follow_until_cut(self) -> str:
        """Print the events of one connection; answers why it ended."""
        resume_after = self._decoder.last_event_id or None
        self._decoder.start_stream()
        try:
            with self._client.event_stream(
                STREAM_PATH, last_event_id=resume_after, read_timeout=self._read_timeout
            ) as chunks:
                self._announce_connected(resume_after)
                for chunk in chunks:
                    self._backoff.reset(self._server_delay())
                    for event in self._decoder.feed(chunk):
                        self._handle(event)
        except DaemonUnreachable as error:
            if not error.transient:
                raise
            return error.message
        except ApiError as error:
            if error.status < 500 and error.status != 429:
                raise
            self._backoff.postpone(error.retry_after or 0)
            return error.message
        return f"The daemon at {self._client.server} ended the stream"

    def _server_delay(self) -> float | None:
        retry_ms = self._decoder.retry_ms
        return None if retry_ms is None else retry_ms / 1000

    def _announce_connected(self, resume_after: str | None) -> None:
        if not self._ever_connected:
            self._ever_connected = True
            self._renderer.info(f"Following new transfers from {self._client.server}; press Ctrl-C to stop.")
        elif self._outage_announced:
            after = f" after event {resume_after}" if resume_after else ""
            self._renderer.info(f"Reconnected; resuming{after}.")
        self._outage_announced = False

    def _handle(self, event: ServerSentEvent) -> None:
        if self._seen_before(event.id):
            return  # a daemon that resends an event must not make us print it twice
        if event.event not in tuple(StreamFrame):
            return  # a kind of event this version of the CLI does not know
        try:
            payload = json.loads(event.data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._renderer.warn(f"Skipped event {event.id or '(no id)'}: its data is not a JSON object.")
            return
        if event.event == StreamFrame.TRANSFER:
            self._show_transfer(event, payload)
        elif not self._renderer.json_output:
            self._renderer.info(printable(f"Notification: {views.notification_text(payload)}"))

    def _seen_before(self, event_id: str) -> bool:
        """True for an id at or below the highest one handled (ids increase, per user)."""
        if not (event_id.isascii() and event_id.isdigit()):
            return False
        number = int(event_id)
        if self._highest_id is not None and number <= self._highest_id:
            return True
        self._highest_id = number
        return False

    def _show_transfer(self, event: ServerSentEvent, payload: dict[str, Any]) -> None:
        transfer = payload.get("transfer")
        if not isinstance(transfer, dict) or not {"id", "amount", "currency"} <= transfer.keys():
            self._renderer.warn(f"Skipped event {event.id or '(no id)'}: it carries no transfer.")
            return
        if not self._filter.matches(transfer):
            return
        views.show_followed_transfer(self._renderer, transfer, first=self._rows_printed == 0)
        self._rows_printed += 1
