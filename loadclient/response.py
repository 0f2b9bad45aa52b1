"""The one response parser: status, framing, keep-alive and X-Cache from an answer's header block.

httptools frames the bytes of every GET (and rejects garbage); what loadclient itself needs to
know about an answer is read here, by the connection for GETs and by the warm-up for HEADs.
Finding the few headers that matter in the lowercased block is cheaper than an on_header
callback for each of the ~8 headers of every response.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_END = b"\r\n\r\n"


class InvalidResponse(ValueError):
    """InvalidResponse is a header block that is not an HTTP/1.x response."""


@dataclass(slots=True)
class Head:
    """Head is what an answer's header block says."""

    status: int
    reason: str
    keep_alive: bool
    cache: bytes | None  # X-Cache, as sent
    chunked: bool
    length: int  # Content-Length, -1 when there is none

    @property
    def until_close(self) -> bool:
        """Until_close: neither chunked nor a Content-Length, so the body ends at the close."""
        return not self.chunked and self.length < 0


def parse_head(block: bytes | bytearray) -> Head:
    """Parse_head reads a header block (status line to the blank line, which may be missing)."""
    end = block.find(b"\r\n")
    line = bytes(block if end < 0 else block[:end])
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise InvalidResponse(f"not an HTTP/1.x status line: {line[:80]!r}")
    lower = bytes(block).lower()
    connection = header(lower, b"\r\nconnection:") or b""
    if parts[0] == b"HTTP/1.0":
        keep_alive = b"keep-alive" in connection
    else:
        keep_alive = b"close" not in connection
    cache, chunked, length = framing(lower)
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    return Head(int(parts[1]), reason, keep_alive, cache, chunked, length)


def framing(lower: bytes) -> tuple[bytes | None, bool, int]:
    """Framing is (X-Cache, chunked, Content-Length or -1) of a lowercased header block.

    The connection calls it for every GET (httptools has the status): keep it cheap.
    """
    coding = header(lower, b"\r\ntransfer-encoding:")
    chunked = coding is not None and b"chunked" in coding
    length = None if chunked else header(lower, b"\r\ncontent-length:")
    size = int(length) if length is not None and length.isdigit() else -1
    return header(lower, b"\r\nx-cache:"), chunked, size


class Framer:
    """Framer is framing() of header blocks, memoized for the block it saw last.

    A server's answers to one GET repeat their header block byte for byte (nginx's changes
    with its Date header, once a second): comparing the bytes with the last block is one
    memcmp, much cheaper than finding the block's end, lowercasing it and searching it.
    """

    __slots__ = ("block", "result")

    def __init__(self) -> None:
        self.block = b"\0"  # no header block starts with a NUL
        self.result: tuple[int, bytes | None, bool, int] = (0, None, False, -1)

    def framing(
        self, buf: bytes | bytearray, end: int, start: int = 0
    ) -> tuple[int, bytes | None, bool, int]:
        """Framing is where the header block at buf[start:] ends, then its framing().

        The block, blank line included, ends before end; start is past any interim answers.
        """
        # The last block ends at its first blank line: if buf starts with it, so does buf's.
        if buf.startswith(self.block, start):
            result = self.result
        else:
            stop = buf.find(HEAD_END, start, end) + len(HEAD_END)
            self.block = block = bytes(buf[start:stop])
            self.result = result = (stop - start, *framing(block.lower()))
        if start:
            return start + result[0], result[1], result[2], result[3]
        return result


def interim(status: int) -> bool:
    """Interim: status is a 1xx answer that precedes the final one (101 ends HTTP/1.1 instead)."""
    return 100 <= status < 200 and status != 101


def skip_interim(head: bytes | bytearray) -> int:
    """Skip_interim is how many bytes at the start of head are whole interim (1xx) answers."""
    start = 0
    # Each pass either consumes a whole interim block or stops: at most len(head) passes.
    while head.startswith(b"HTTP/1.", start) and head[start + 9 : start + 10] == b"1":
        if head[start + 9 : start + 12] == b"101":
            break
        end = head.find(HEAD_END, start)
        if end < 0:
            break
        start = end + len(HEAD_END)
    return start


def header(block: bytes, name: bytes) -> bytes | None:
    """Header is the value of the first header `name` ("\\r\\nname:", lowercase) in block."""
    start = block.find(name)
    if start < 0:
        return None
    start += len(name)
    return block[start : block.find(b"\r\n", start)].strip()


def dechunk(raw: bytes) -> bytes | None:
    """Dechunk removes chunked transfer-coding (RFC 9112 7.1); None when it is malformed."""
    out: list[bytes] = []
    pos = 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(raw[pos:eol].split(b";", 1)[0], 16)
        except ValueError:
            return None
        if size == 0:
            return b"".join(out)
        start = eol + 2
        out.append(raw[start : start + size])
        if raw[start + size : start + size + 2] != b"\r\n":
            return None
        pos = start + size + 2
