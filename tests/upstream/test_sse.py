"""SseDecoder: every chunk boundary, both line endings, comments, multi-line data."""

from __future__ import annotations

import pytest

from ag2api.upstream.sse import SseDecoder

EVENTS = [b'{"response":{"a":1}}', b'{"response":{"b":"x\\ny"}}', b'{"response":{"c":[1,2]}}']


def wire(newline: bytes) -> bytes:
    nl = newline
    return (
        b": keepalive"
        + nl
        + nl
        + b"data: "
        + EVENTS[0]
        + nl
        + nl
        + b"event: message"
        + nl
        + b"id: 7"
        + nl
        + b"data: "
        + EVENTS[1]
        + nl
        + nl
        + b"data:"
        + EVENTS[2]
        + nl
        + nl
    )


def decode(chunks: list[bytes]) -> list[bytes]:
    decoder = SseDecoder()
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.close())
    return out


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_split_at_every_offset(newline: bytes) -> None:
    data = wire(newline)
    for cut in range(len(data) + 1):
        assert decode([data[:cut], data[cut:]]) == EVENTS, cut


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_one_byte_at_a_time(newline: bytes) -> None:
    data = wire(newline)
    assert decode([data[i : i + 1] for i in range(len(data))]) == EVENTS


def test_split_at_every_pair_of_offsets() -> None:
    data = wire(b"\r\n")
    for a in range(0, len(data), 3):
        for b in range(a, len(data), 7):
            assert decode([data[:a], data[a:b], data[b:]]) == EVENTS


def test_multi_line_data_is_joined_with_newline() -> None:
    assert decode([b'data: {"a":\ndata: 1}\n\n']) == [b'{"a":\n1}']


def test_last_event_without_blank_line_still_counts() -> None:
    assert decode([b'data: {}\n\ndata: {"z":1}']) == [b"{}", b'{"z":1}']


def test_comment_only_stream_has_no_events() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b": ping\n\n: ping\n\n") == []
    assert decoder.close() == []
    assert not decoder.seen_data


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        # One whole single-line event per chunk (how libcurl hands over a chunked stream).
        ([b"data: " + e + b"\n\n" for e in EVENTS], EVENTS),
        # The same shapes that must not take the shortcut: CR before the blank line, two lines,
        # a leftover from the chunk before, two events in one chunk, an empty payload.
        ([b"data: x\r\n\n"], [b"x"]),
        ([b"data: a\ndata: b\n\n"], [b"a\nb"]),
        ([b"data: a", b"bc\n\n", b"data: d\n\n"], [b"abc", b"d"]),
        ([b"data: a\n\ndata: b\n\n"], [b"a", b"b"]),
        ([b"data: \n\n"], [b""]),
    ],
    ids=["whole", "cr", "multiline", "leftover", "two-in-one", "empty"],
)
def test_whole_event_chunks(chunks: list[bytes], expected: list[bytes]) -> None:
    assert decode(chunks) == expected
