import pytest

from cascommon.ranges import ByteRange, RangeNotSatisfiable, if_range_allows, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "size", "want"),
    [
        (None, SIZE, None),
        ("", SIZE, None),
        ("bytes=0-0", SIZE, ByteRange(0, 1, SIZE)),
        ("bytes=0-499", SIZE, ByteRange(0, 500, SIZE)),
        ("bytes=500-", SIZE, ByteRange(500, 500, SIZE)),
        ("bytes=999-", SIZE, ByteRange(999, 1, SIZE)),
        ("bytes=990-5000", SIZE, ByteRange(990, 10, SIZE)),  # end clamped
        ("bytes=-100", SIZE, ByteRange(900, 100, SIZE)),
        ("bytes=-5000", SIZE, ByteRange(0, SIZE, SIZE)),  # suffix longer than the blob
        ("Bytes = 1 - 2", SIZE, ByteRange(1, 2, SIZE)),  # unit is case-insensitive
        ("bytes=5-1", SIZE, None),  # invalid: ignored
        ("bytes=-", SIZE, None),
        ("bytes=0-1,5-6", SIZE, None),  # several ranges: whole blob
        ("items=0-1", SIZE, None),
        ("bytes=a-b", SIZE, None),
        ("bytes=-1", 0, None),  # a suffix of nothing is sent whole
    ],
)
def test_parse_range(header: str | None, size: int, want: ByteRange | None) -> None:
    assert parse_range(header, size) == want


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", SIZE), ("bytes=5000-6000", SIZE), ("bytes=-0", SIZE), ("bytes=0-", 0)],
)
def test_unsatisfiable_ranges_raise(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, size)
    assert info.value.size == size


def test_content_range() -> None:
    assert ByteRange(10, 5, SIZE).content_range == "bytes 10-14/1000"


def test_end_is_past_the_last_byte() -> None:
    assert ByteRange(10, 5, SIZE).end == 15


@pytest.mark.parametrize(
    ("if_range", "allowed"),
    [(None, True), ('"abc"', True), ('"other"', False), ('W/"abc"', False), ("Sat, 1 Jan", False)],
)
def test_if_range(if_range: str | None, allowed: bool) -> None:
    assert if_range_allows(if_range, '"abc"') is allowed
