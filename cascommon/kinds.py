"""The types a setting may have: how its text is read, what it expects, how a value is shown.

Each program's settings (``<program>/settings.py``) pick one of these per setting, or make
their own ``Kind`` for a format only that program reads (a rate, a duration).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# k, m and g alone are binary, as in the programs' older flags (loadclient's --size 4m).
_UNITS: Final = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3} | {
    unit: 1 << shift for shift, units in ((10, "k kib"), (20, "m mib"), (30, "g gib"))
    for unit in units.split()
}  # fmt: skip
_SIZE: Final = re.compile(r"(\d+)\s*([a-z]*)")
# What an HTTP header value may carry as a bearer token: no spaces, no line breaks.
_TOKEN: Final = re.compile(r"[!-~]+")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Kind:
    """A setting's type: parse turns its text into a value or raises ValueError."""

    name: str  # shown in the docs' Type column
    parse: Callable[[str], Any]
    expect: str  # completes "X must be ...", e.g. "an integer"
    metavar: str = "VALUE"
    show: Callable[[Any], str] = str
    choices: tuple[str, ...] = ()


def parse_bytes(text: str) -> int:
    """Return the bytes in `67108864`, `64MiB`, `64m`, `1GB` (k/m/g alone are binary)."""
    m = _SIZE.fullmatch(text.strip().lower())
    if m is None or m.group(2) not in _UNITS:
        raise ValueError(text)
    return int(m.group(1)) * _UNITS[m.group(2)]


def show_bytes(value: int) -> str:
    """Return value in the largest binary unit that divides it (`64MiB`), else in bytes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def parse_bool(text: str) -> bool:
    """Return True or False for 1/0, true/false, yes/no, on/off."""
    if text.lower() not in _TRUE | _FALSE:
        raise ValueError(text)
    return text.lower() in _TRUE


def parse_url(text: str) -> str:
    """Return text if it is an http(s) base URL."""
    url = text.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(text)
    parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    return url


def parse_address(text: str) -> str:
    """Return a base URL from `host:port` (the Go original's form, made http://) or a URL."""
    addr = text.strip().rstrip("/")
    return parse_url(addr if "://" in addr else f"http://{addr}")


def split_host_port(text: str, *, min_port: int = 0) -> tuple[str, int]:
    """Return the host (brackets of [v6] dropped, maybe empty) and port of HOST:PORT.

    ValueError when there is no port, or it is not ASCII digits from min_port to 65535
    (isascii too: "²" is a digit to isdigit() but not to int()).
    """
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not min_port <= int(port) <= 65535:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def parse_urls(text: str) -> tuple[str, ...]:
    """Return the comma-separated base URLs in text, each as parse_url reads it."""
    return tuple(parse_url(p) for p in text.split(",") if p.strip())


def parse_token(text: str) -> str:
    """Return a bearer token: printable ASCII, no spaces (the value never appears in errors)."""
    if not _TOKEN.fullmatch(text):
        raise ValueError("token")
    return text


def choice(*options: str, fold: Callable[[str], str] = str.lower) -> Kind:
    """Return the kind of a setting that is one of options (compared after fold)."""

    def parse(text: str) -> str:
        if fold(text) not in options:
            raise ValueError(text)
        return fold(text)

    return Kind("one of", parse, f"one of {', '.join(options)}", "{" + ",".join(options) + "}",
                choices=options)  # fmt: skip


INT: Final = Kind("integer", int, "an integer", "N")
NUMBER: Final = Kind("number", float, "a number like 0.5", "N")
SECONDS: Final = Kind(
    "seconds", float, "a number of seconds like 2.5", "SECONDS", lambda v: f"{v:g}"
)
BYTES: Final = Kind("bytes", parse_bytes, "a byte size like 64MiB or 67108864", "BYTES", show_bytes)
BOOL: Final = Kind("boolean", parse_bool, "a boolean (1/0, true/false, yes/no, on/off)", "BOOL",
                   lambda v: "on" if v else "off")  # fmt: skip
TEXT: Final = Kind("text", str, "text", "TEXT")
PATH: Final = Kind("path", Path, "a path", "PATH")
URL: Final = Kind("URL", parse_url, "an http(s) base URL", "URL")
ADDRESS: Final = Kind("URL", parse_address, "host:port or an http(s) base URL", "URL")
URLS: Final = Kind("URL list", parse_urls, "comma-separated http(s) base URLs", "URLS", ",".join)
TOKEN: Final = Kind("token", parse_token, "printable ASCII without spaces", "TOKEN")
LOG_LEVEL: Final = choice(*LOG_LEVELS, fold=str.upper)
