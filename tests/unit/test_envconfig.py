from collections.abc import Callable

import pytest

from cascommon.envconfig import ConfigError, check_at_least_one, check_log_level, check_port


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
