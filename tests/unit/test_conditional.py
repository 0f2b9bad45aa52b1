"""The shared 304/206/200 decision for a blob GET or HEAD."""

from __future__ import annotations

import pytest

from cascommon.conditional import NOT_MODIFIED, WHOLE, select
from cascommon.ranges import ByteRange, RangeNotSatisfiable

TAG = '"abc"'


@pytest.mark.parametrize(
    ("method", "if_none_match", "if_range", "range_header", "expected"),
    [
        ("GET", None, None, None, WHOLE),
        ("GET", TAG, None, "bytes=0-9", NOT_MODIFIED),  # 304 wins over a Range
        ("HEAD", 'W/"abc"', None, None, NOT_MODIFIED),
        ("GET", '"other"', None, "bytes=0-9", ByteRange(0, 10, 100)),
        ("HEAD", None, None, "bytes=0-9", WHOLE),  # HEAD ignores Range
        ("GET", None, '"other"', "bytes=0-9", WHOLE),  # If-Range of another tag
        ("GET", None, TAG, "bytes=-5", ByteRange(95, 5, 100)),
        ("GET", None, None, "bytes=0-1,5-6", WHOLE),  # several ranges: ignored
    ],
)
def test_select(
    method: str,
    if_none_match: str | None,
    if_range: str | None,
    range_header: str | None,
    expected: object,
) -> None:
    chosen = select(
        method, 100, TAG, if_none_match=if_none_match, if_range=if_range, range_header=range_header
    )
    assert (chosen.byte_range if isinstance(expected, ByteRange) else chosen) == expected


def test_a_range_past_the_end_is_416() -> None:
    with pytest.raises(RangeNotSatisfiable):
        select("GET", 100, TAG, if_none_match=None, if_range=None, range_header="bytes=100-")
