"""Go-style durations ("1m30s", "500ms") and Vegeta-style rates ("100/1s") as integers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

NS_PER_S: Final = 1_000_000_000

_UNITS_NS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
}
_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class InvalidDuration(ValueError):
    """InvalidDuration is raised for text that is not a Go duration or a rate."""


def parse_duration_ns(text: str) -> int:
    """Parse_duration_ns reads a Go duration ("10s", "1m30s", "250ms", "0") as nanoseconds."""
    s = text.strip()
    if s in ("0", "+0"):
        return 0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise InvalidDuration(f"invalid duration {text!r} (want e.g. 10s, 500ms, 1m30s)")
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    if pos == 0 or not math.isfinite(total):
        raise InvalidDuration(f"invalid duration {text!r} (want e.g. 10s, 500ms, 1m30s)")
    return round(total)


def parse_seconds_ns(text: str) -> int:
    """Parse_seconds_ns reads a plain number of seconds ("10", "2.5") or a Go duration."""
    try:
        seconds = float(text)
    except ValueError:
        return parse_duration_ns(text)
    if seconds < 0:
        raise InvalidDuration(f"negative duration {text!r}")
    if not math.isfinite(seconds):
        raise InvalidDuration(f"invalid duration {text!r} (want a number of seconds)")
    return round(seconds * NS_PER_S)


def format_duration(ns: int | float) -> str:
    """Format_duration writes nanoseconds the way Go's time.Duration.String does (roughly)."""
    ns = int(ns)
    sign, v = ("-", -ns) if ns < 0 else ("", ns)
    if v == 0:
        return "0s"
    if v < 1_000:
        return f"{sign}{v}ns"
    if v < 1_000_000:
        return f"{sign}{_trim(v / 1_000)}µs"
    if v < NS_PER_S:
        return f"{sign}{_trim(v / 1_000_000)}ms"
    hours, rest = divmod(v, 3600 * NS_PER_S)
    minutes, rest = divmod(rest, 60 * NS_PER_S)
    text = f"{_trim(rest / NS_PER_S)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class Rate:
    """Rate is freq requests per per_ns nanoseconds; freq 0 means as fast as possible."""

    freq: int
    per_ns: int = NS_PER_S

    @property
    def per_second(self) -> float:
        """Per_second is the rate in requests per second."""
        return self.freq * NS_PER_S / self.per_ns

    def __str__(self) -> str:
        return f"{self.freq}/{format_duration(self.per_ns)}"


def parse_rate(text: str) -> Rate:
    """Parse_rate reads "100", "100/s", "100/1s" or "5/100ms" (Vegeta's -rate syntax)."""
    freq_text, _, per_text = text.strip().partition("/")
    try:
        freq = int(freq_text)
    except ValueError:
        raise InvalidDuration(f"invalid rate {text!r} (want e.g. 100/1s)") from None
    if freq < 0:
        raise InvalidDuration(f"negative rate {text!r}")
    if not per_text:
        return Rate(freq)
    if per_text[0].isalpha():
        per_text = "1" + per_text
    per_ns = parse_duration_ns(per_text)
    if per_ns <= 0:
        raise InvalidDuration(f"rate period must be positive in {text!r}")
    return Rate(freq, per_ns)
