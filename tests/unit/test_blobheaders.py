import pytest

from cascommon.blobheaders import etag, none_match

TAG = etag("abc")


def test_etag_is_the_quoted_digest() -> None:
    assert TAG == '"abc"'


@pytest.mark.parametrize(
    ("if_none_match", "matched"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ("*", True),
        (' "x" , "abc" ', True),
        ('"x"', False),
        ("abc", False),
    ],
)
def test_none_match(if_none_match: str | None, matched: bool) -> None:
    assert none_match(if_none_match, TAG) is matched
