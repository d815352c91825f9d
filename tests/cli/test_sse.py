"""The Server-Sent Events decoder, fed the bytes a daemon (or a broken link) would send."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from gopherpay_cli.sse import EventStreamDecoder, ServerSentEvent


def decode(chunks: Iterable[bytes], decoder: EventStreamDecoder | None = None) -> list[ServerSentEvent]:
    decoder = decoder or EventStreamDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_an_event_has_its_id_type_and_data() -> None:
    events = decode([b'id: 42\nevent: transfer\ndata: {"a": 1}\n\n'])

    assert events == [ServerSentEvent(event="transfer", data='{"a": 1}', id="42")]


def test_data_lines_are_joined_with_line_feeds() -> None:
    assert decode([b"data: first\ndata:second\ndata\ndata:  indented\n\n"])[0].data == (
        "first\nsecond\n\n indented"
    )


def test_an_event_without_a_type_is_a_message() -> None:
    assert decode([b"data: x\n\n"]) == [ServerSentEvent(event="message", data="x", id="")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = decode([b": keep-alive\n\n: another\nfoo: bar\nid: 1\ndata: x\n\n"])

    assert events == [ServerSentEvent(event="message", data="x", id="1")]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_is_understood(line_end: bytes) -> None:
    lines = [b"id: 7", b"event: notification", b"data: a", b"data: b", b"", b""]

    events = decode([line_end.join(lines)])

    assert events == [ServerSentEvent(event="notification", data="a\nb", id="7")]


def test_an_event_split_across_chunks_anywhere_is_decoded_once() -> None:
    stream = 'id: 3\r\nevent: transfer\r\ndata: {"memo": "café ☕"}\r\n\r\n'.encode()

    for cut in range(1, len(stream)):
        events = decode([stream[:cut], stream[cut:]])

        assert events == [ServerSentEvent(event="transfer", data='{"memo": "café ☕"}', id="3")], cut


def test_a_cr_ending_a_chunk_is_not_taken_twice_when_its_lf_follows() -> None:
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [
        ServerSentEvent(event="message", data="a\nb", id="")
    ]


def test_an_event_is_dispatched_as_soon_as_its_blank_line_arrives() -> None:
    decoder = EventStreamDecoder()

    assert list(decoder.feed(b"id: 1\ndata: x\n")) == []
    assert list(decoder.feed(b"\n")) == [ServerSentEvent(event="message", data="x", id="1")]


def test_the_type_does_not_carry_over_to_the_next_event() -> None:
    events = decode([b"event: transfer\ndata: a\n\ndata: b\n\n"])

    assert [event.event for event in events] == ["transfer", "message"]


def test_the_id_carries_over_to_events_without_one() -> None:
    events = decode([b"id: 5\ndata: a\n\ndata: b\n\n"])

    assert [event.id for event in events] == ["5", "5"]


def test_a_byte_order_mark_at_the_start_is_dropped() -> None:
    assert decode([b"\xef\xbb\xbfdata: x\n\n"])[0].data == "x"


def test_an_id_with_a_nul_is_ignored() -> None:
    assert decode([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"])[1].id == "1"


@pytest.mark.parametrize(("value", "expected"), [(b"3000", 3000), (b"3s", None), (b"-1", None), (b"", None)])
def test_retry_takes_digits_only(value: bytes, expected: int | None) -> None:
    decoder = EventStreamDecoder()

    decode([b"retry: " + value + b"\n\n"], decoder)

    assert decoder.retry_ms == expected


def test_last_event_id_moves_only_when_an_event_is_complete() -> None:
    decoder = EventStreamDecoder()
    decode([b"id: 1\ndata: a\n\nid: 2\ndata: b"], decoder)

    assert decoder.last_event_id == "1"


def test_an_id_only_block_moves_the_position_without_an_event() -> None:
    decoder = EventStreamDecoder()

    assert decode([b"id: 41\n\n"], decoder) == []
    assert decoder.last_event_id == "41"


def test_a_keep_alive_never_loses_the_position() -> None:
    decoder = EventStreamDecoder("9")
    decoder.start_stream()

    decode([b": keep-alive\n\n", b"\n\n"], decoder)

    assert decoder.last_event_id == "9"


def test_a_new_connection_forgets_the_event_cut_off_by_the_old_one() -> None:
    decoder = EventStreamDecoder()
    decode([b"id: 1\ndata: a\n\nid: 2\nevent: transfer\ndata: cut off"], decoder)

    decoder.start_stream()
    events = decode([b"id: 2\ndata: whole\n\n"], decoder)

    assert events == [ServerSentEvent(event="message", data="whole", id="2")]
