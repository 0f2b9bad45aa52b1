import hashlib

import pytest

from cascommon.digest import SHA1, SHA256, InvalidDigest, parse_digest, parse_sha256

DATA = b"hello, cas"
SHA256_HEX = hashlib.sha256(DATA).hexdigest()
SHA1_HEX = hashlib.sha1(DATA).hexdigest()


@pytest.mark.parametrize(("text", "algorithm"), [(SHA256_HEX, SHA256), (SHA1_HEX, SHA1)])
def test_valid_digests_parse(text: str, algorithm: str) -> None:
    d = parse_digest(text)
    assert (d.algorithm, d.hex, str(d)) == (algorithm, text, text)
    assert d.matches(DATA)
    assert not d.matches(DATA + b"!")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        SHA256_HEX.upper(),
        SHA256_HEX[:-1],
        SHA256_HEX + "0",
        SHA1_HEX[:-1] + "g",
        "../" + SHA256_HEX[3:],
        "a" * 32,  # MD5 length: not accepted
        "a" * 128,
        SHA1_HEX[:-2] + "%2f",
        " " + SHA1_HEX[1:],
    ],
)
def test_invalid_digests_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDigest):
        parse_digest(text)


def test_parse_sha256_takes_only_sha256() -> None:
    text = hashlib.sha256(b"x").hexdigest()
    assert parse_sha256(text).algorithm == SHA256
    with pytest.raises(InvalidDigest, match="SHA-256"):
        parse_sha256(hashlib.sha1(b"x").hexdigest())
    with pytest.raises(InvalidDigest):
        parse_sha256("zz" * 32)
