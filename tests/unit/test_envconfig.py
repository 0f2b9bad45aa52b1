from collections.abc import Callable
from pathlib import Path

import pytest

from cascommon.envconfig import (
    ConfigError,
    check_at_least_one,
    check_log_level,
    check_port,
    secret,
)


def test_good_values_pass() -> None:
    check_port("PORT", 1)
    check_port("PORT", 65535)
    check_at_least_one("N", 1)
    check_log_level("LOG_LEVEL", "DEBUG")


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (lambda: check_port("PORT", 0), "PORT must be 1-65535, got 0"),
        (lambda: check_port("PORT", 65536), "PORT must be 1-65535, got 65536"),
        (lambda: check_at_least_one("N", 0), "N must be at least 1, got 0"),
        (lambda: check_log_level("LOG_LEVEL", "debug"), "LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_name_the_variable(check: Callable[[], None], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check()
    assert str(info.value).startswith(message)


def test_secret_from_the_variable_or_its_file(tmp_path: Path) -> None:
    assert secret({}, "T") is None
    assert secret({"T": " direct "}, "T") == "direct"
    path = tmp_path / "t"
    path.write_text("from-file\n")
    assert secret({"T_FILE": str(path)}, "T") == "from-file"
    with pytest.raises(ConfigError, match="set T or T_FILE, not both"):
        secret({"T": "direct", "T_FILE": str(path)}, "T")
    with pytest.raises(ConfigError, match="T_FILE: cannot read"):
        secret({"T_FILE": str(tmp_path / "absent")}, "T")
    path.write_text("line\nbreak\n")  # would split the Authorization header
    with pytest.raises(ConfigError, match="T must be non-empty printable ASCII") as info:
        secret({"T_FILE": str(path)}, "T")
    assert "line" not in str(info.value)
