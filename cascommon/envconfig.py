"""The setting checks both servers' Config classes make, and the error they raise.

Each check names the environment variable, since that is what an operator sets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# What an HTTP header value may carry as a bearer token: no spaces, no line breaks.
_TOKEN: Final = re.compile(r"[!-~]+")


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


def secret(environ: Mapping[str, str], name: str) -> str | None:
    """Secret is variable name's value, or the content of the file name_FILE names, or None.

    The file is how a Kubernetes Secret is mounted; setting both is an error. The token is
    checked for what a header may carry, and no error message ever includes it.
    """
    value = environ.get(name, "").strip() or None
    path = environ.get(name + "_FILE", "").strip()
    if path:
        if value is not None:
            raise ConfigError(f"set {name} or {name}_FILE, not both")
        value = read_secret(name + "_FILE", path)
    if value is not None:
        check_token(name, value)
    return value


def read_secret(name: str, path: str | Path) -> str:
    """Read_secret is the token in file path (variable name), without the newline `echo` adds."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc}") from None


def check_token(name: str, token: str) -> None:
    """Check_token raises ConfigError unless token is non-empty printable ASCII without spaces."""
    if not _TOKEN.fullmatch(token):
        raise ConfigError(f"{name} must be non-empty printable ASCII without spaces")
