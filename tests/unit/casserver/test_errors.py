import errno

import falcon
import pytest

from cascommon.digest import InvalidDigest
from cascommon.ranges import RangeNotSatisfiable
from casserver.errors import to_http_error
from casserver.storage import StorageFull
from casserver.upload import (
    BodyTooLarge,
    DigestMismatch,
    LengthRequired,
    MalformedBody,
    TruncatedBody,
    UploadError,
)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidDigest("x"), 400),
        (LengthRequired("x"), 411),
        (BodyTooLarge("x"), 413),
        (MalformedBody("x"), 400),
        (TruncatedBody("x"), 400),
        (DigestMismatch("x"), 400),
        (UploadError("x"), 400),
        (StorageFull(errno.ENOSPC, "full"), 507),
        (RangeNotSatisfiable(10), 416),
    ],
)
def test_domain_errors_map_to_statuses(exc: Exception, status: int) -> None:
    error = to_http_error(exc)
    assert error.status_code == status
    assert error.title and error.description


def test_416_names_the_size() -> None:
    error = to_http_error(RangeNotSatisfiable(10))
    assert error.headers is not None
    assert error.headers["Content-Range"] == "bytes */10"


def test_unknown_errors_are_not_mapped() -> None:
    with pytest.raises(TypeError):
        to_http_error(KeyError("x"))


def test_storage_full_detail_has_no_errno_noise() -> None:
    assert to_http_error(StorageFull(errno.ENOSPC, "storage volume is full")).description == (
        "storage volume is full"
    )
    assert isinstance(to_http_error(DigestMismatch("m")), falcon.HTTPError)
