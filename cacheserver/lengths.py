"""What an upstream may say of a blob's length before its bytes can be hashed.

A streamed body is verified only at its last byte, after its headers went out with the
length the upstream declared. So the length is checked first, against what the key allows
(only the empty digest has 0 bytes) and against what the same upstream said before, when
the size probe found the body over the item limit: a length that cannot be the blob's is
an error before any header, never a complete answer of the wrong size.
"""

from __future__ import annotations

from dataclasses import dataclass

from cacheserver.errors import WrongLength
from cascommon.digest import Digest


@dataclass(frozen=True, slots=True)
class Oversize:
    """Oversize is a body left unread because it is over the item limit: what its upstream said."""

    source: str  # the upstream's base URL
    length: int | None  # its Content-Length; None: none was sent, the body ran past the limit
    limit: int  # the item limit it is over


def check_length(digest: Digest, length: int | None, source: str, probe: Oversize | None) -> None:
    """Check_length raises WrongLength when length (from source) cannot be the blob's.

    length None (no Content-Length) says nothing: the hash at the end decides alone.
    """
    if length is None:
        return
    empty = digest.hasher().hexdigest() == digest.hex  # the one key whose blob has 0 bytes
    if (length == 0) != empty:
        raise WrongLength(f"{source}: {length} bytes cannot be the blob {digest.hex}")
    if probe is None or probe.source != source:
        return  # another upstream's word is no evidence against this one's
    if length <= probe.limit or (probe.length is not None and length != probe.length):
        said = "over the limit" if probe.length is None else f"{probe.length} bytes"
        raise WrongLength(f"{source}: {length} bytes for {digest.hex}, after it said {said}")
