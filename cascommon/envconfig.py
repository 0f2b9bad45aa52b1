"""The setting checks both servers' Config classes make, and the error they raise.

Each check names the environment variable, since that is what an operator sets.
"""

from __future__ import annotations

from typing import Final

LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


class ConfigError(ValueError):
    """ConfigError is raised for a setting that cannot be used."""


def check_port(name: str, port: int) -> None:
    """Check_port raises ConfigError unless port (variable name) is 1-65535."""
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be 1-65535, got {port}")


def check_at_least_one(name: str, value: int) -> None:
    """Check_at_least_one raises ConfigError when a count (variable name) is below 1."""
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")


def check_log_level(name: str, level: str) -> None:
    """Check_log_level raises ConfigError unless level (variable name) is in LOG_LEVELS."""
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {sorted(LOG_LEVELS)}")
