"""Incremental Server-Sent Events decoder: bytes in any chunking → complete ``data`` payloads."""

from __future__ import annotations


class SseDecoder:
    """Feed raw chunks; get back the ``data`` of each complete event, in order.

    Correct whatever the chunk boundaries: lines may be split anywhere (also between CR and LF),
    ``\\n`` and ``\\r\\n`` line ends both work, ``data`` may span several lines (joined with
    ``\\n``), and comments (``: keepalive``) and other fields (``event:``, ``id:``) are skipped.
    """

    __slots__ = ("_buf", "_data", "seen_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self.seen_data = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if (
            not self._buf
            and not self._data
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\n", 6) == len(chunk) - 2
            and chunk[-3] != 13  # not "\r\n\n": the slow path strips the CR
        ):
            # The usual shape: libcurl hands over one whole single-line event per HTTP chunk.
            self.seen_data = True
            return [chunk[6:-2]]
        buf = self._buf + chunk if self._buf else chunk
        events: list[bytes] = []
        start = 0
        find = buf.find
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            line = buf[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, events)
        self._buf = buf[start:]
        return events

    def close(self) -> list[bytes]:
        """End of stream: a last event without its blank line still counts."""
        events: list[bytes] = []
        if self._buf:
            line = self._buf.removesuffix(b"\r")
            self._buf = b""
            self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line:
            if self._data:
                events.append(self._data[0] if len(self._data) == 1 else b"\n".join(self._data))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value)
            self.seen_data = True
        # Comments (":…") and other fields carry nothing the gateway needs.
