"""ByteBudget parsing and the config check around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from casserver.budget import BudgetError, ByteBudget, low_watermark
from casserver.config import Config, ConfigError


@pytest.mark.parametrize(
    ("text", "fixed", "share"),
    [
        ("1073741824", 1 << 30, None),
        ("10GiB", 10 << 30, None),
        ("64 MiB", 64 << 20, None),
        ("500MB", 500_000_000, None),
        ("1.5G", 3 << 29, None),
        ("85%", None, 0.85),
        ("100%", None, 1.0),
    ],
)
def test_parse(text: str, fixed: int | None, share: float | None) -> None:
    assert ByteBudget.parse(text) == ByteBudget(fixed, share)


@pytest.mark.parametrize("text", ["", "0", "-1", "10XB", "0%", "101%", "abc%", "GiB"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(BudgetError):
        ByteBudget.parse(text)


def test_share_resolves_against_the_volume(tmp_path: Path) -> None:
    whole = ByteBudget.parse("100%").resolve(tmp_path)
    assert 0 < ByteBudget.parse("50%").resolve(tmp_path) <= whole // 2 + 1
    assert ByteBudget.parse("123").resolve(tmp_path) == 123
    assert low_watermark(1000) == 900


def test_config_reads_the_budget_and_grace() -> None:
    config = Config.from_env({"CAS_MAX_BYTES": "85%", "CAS_EVICT_GRACE_S": "0"})
    assert (config.max_bytes, config.evict_grace_s) == ("85%", 0.0)
    assert Config().max_bytes is None and Config().evict_grace_s == 600.0
    with pytest.raises(ConfigError, match="CAS_MAX_BYTES"):
        Config.from_env({"CAS_MAX_BYTES": "lots"})
    with pytest.raises(ConfigError, match="CAS_EVICT_GRACE_S"):
        Config.from_env({"CAS_EVICT_GRACE_S": "-1"})
