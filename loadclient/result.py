"""Result: what one request came to, the value every exchange hands to Metrics.add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Error kinds, the keys of Metrics.error_counts.
CONNECT: Final = "connect"  # the TCP connection could not be opened (refused, unreachable)
TIMEOUT: Final = "timeout"  # no complete response within --timeout
STATUS: Final = "status"  # an HTTP status other than 200
INTEGRITY: Final = "integrity"  # 200, but the body does not hash to the digest
PROTOCOL: Final = "protocol"  # closed or reset before a full response, or unparseable
GENERATOR: Final = "generator"  # the client's own resources ran out (descriptors, ports)
ERROR_KINDS: Final = (CONNECT, TIMEOUT, STATUS, INTEGRITY, PROTOCOL, GENERATOR)


@dataclass(slots=True)
class Result:
    """Result is one request: monotonic due, sent (0: never sent) and done times, and outcome."""

    due_ns: int
    sent_ns: int
    done_ns: int
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error_kind: str | None = None
    error: str = ""
    cache: bytes | None = None
    key: int = -1  # which of --keys the request asked for (-1: the hot blob or a fresh one)
