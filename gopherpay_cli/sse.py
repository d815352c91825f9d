"""A Server-Sent Events decoder: the bytes of a `text/event-stream` body in, events out.

It follows the event stream interpretation of the WHATWG HTML standard
(https://html.spec.whatwg.org/multipage/server-sent-events.html): lines end with
CRLF, LF or CR; `:` starts a comment; `event`, `data` (one line each, joined with
LF), `id` and `retry` are the fields; a blank line dispatches the event. An event
cut off by a dropped connection is never dispatched.

One decoder lives across reconnections, so `last_event_id` is what to send as
`Last-Event-ID` when connecting again. Unlike a browser, the id is not cleared
by a new connection: a keep-alive's blank line must never lose the position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    """The event type; `message` when the server named none."""
    data: str
    id: str
    """The last event id at the time of dispatch (empty when the server never sent one)."""


class EventStreamDecoder:
    def __init__(self, last_event_id: str = "") -> None:
        self.last_event_id = last_event_id
        """The id of the last event dispatched (or announced by an id-only block)."""
        self.retry_ms: int | None = None
        """The reconnection time the server asked for with `retry:`, in milliseconds."""
        self._id_buffer = last_event_id
        self.start_stream()

    def start_stream(self) -> None:
        """Begin a new connection's body: forget a half-received line or event."""
        self._unfinished_line = b""
        self._skip_line_feed = False
        self._at_stream_start = True
        self._event_type = ""
        self._data_lines: list[str] = []
        self._id_buffer = self.last_event_id

    def feed(self, chunk: bytes) -> Iterator[ServerSentEvent]:
        """The events completed by `chunk`, each dispatched (and `last_event_id` moved) as it is
        yielded, so a consumer that handles one event before asking for the next never
        has an event counted as seen that it did not handle."""
        for line in self._lines(chunk):
            event = self._interpret(line)
            if event is not None:
                yield event

    def _lines(self, chunk: bytes) -> list[bytes]:
        # CR and LF never occur inside a multi-byte UTF-8 sequence, so bytes are split
        # first and each complete line decoded on its own.
        if self._skip_line_feed and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF whose CR ended the previous chunk
        self._skip_line_feed = False
        buffer = self._unfinished_line + chunk
        lines = []
        start = 0
        for line_end in _LINE_END.finditer(buffer):
            lines.append(buffer[start : line_end.start()])
            start = line_end.end()
            if line_end.group() == b"\r" and start == len(buffer):
                self._skip_line_feed = True
        self._unfinished_line = buffer[start:]
        return lines

    def _interpret(self, raw_line: bytes) -> ServerSentEvent | None:
        line = raw_line.decode("utf-8", errors="replace")
        if self._at_stream_start:
            self._at_stream_start = False
            line = line.removeprefix(_BYTE_ORDER_MARK)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, such as a keep-alive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._data_lines.append(value)
        elif name == "id" and "\0" not in value:
            self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id_buffer
        if not self._data_lines:
            # An id-only block still moves the position: it is how a server says where
            # a client that has seen no event yet should resume.
            self._event_type = ""
            return None
        event = ServerSentEvent(
            event=self._event_type or "message",
            data="\n".join(self._data_lines),
            id=self.last_event_id,
        )
        self._event_type = ""
        self._data_lines = []
        return event
