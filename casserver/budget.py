"""ByteBudget: how many bytes of blobs and action results a volume may hold.

``CAS_MAX_BYTES`` is a number of bytes (``1073741824``), a size (``10GiB``, ``500MB``) or a
share of the volume (``85%``), so a Kubernetes claim's size is written down once. A share
is resolved against the volume's size when the evictor starts. Eviction starts above the
budget (the high watermark) and stops at ``LOW_WATERMARK`` of it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# A pass stops at 90% of the budget, so that it does not start again after one more upload.
LOW_WATERMARK: Final = 0.9

_UNITS: Final = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}  # fmt: skip
_SIZE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


class BudgetError(ValueError):
    """BudgetError is raised for a budget that is neither a size nor a share of the volume."""


@dataclass(frozen=True, slots=True)
class ByteBudget:
    """ByteBudget is a fixed number of bytes or a share (0-1] of the volume's size."""

    fixed_bytes: int | None = None
    share: float | None = None

    @classmethod
    def parse(cls, text: str) -> ByteBudget:
        """Return the budget text names: ``123``, ``10GiB``, ``500MB`` or ``85%``."""
        raw = text.strip().lower()
        if raw.endswith("%"):
            try:
                percent = float(raw[:-1])
            except ValueError:
                raise BudgetError(f"not a percentage: {text!r}") from None
            if not 0 < percent <= 100:
                raise BudgetError(f"a share of the volume must be 0-100%, got {text!r}")
            return cls(share=percent / 100)
        match = _SIZE.fullmatch(raw)
        if match is None or match.group(2) not in _UNITS:
            raise BudgetError(f"not a size (bytes, 10GiB, 500MB) or a share (85%): {text!r}")
        nbytes = int(float(match.group(1)) * _UNITS[match.group(2)])
        if nbytes < 1:
            raise BudgetError(f"a budget must be at least one byte, got {text!r}")
        return cls(fixed_bytes=nbytes)

    def resolve(self, volume: Path) -> int:
        """Return the budget in bytes, a share taken of the volume's total size."""
        if self.fixed_bytes is not None:
            return self.fixed_bytes
        assert self.share is not None
        st = os.statvfs(volume)
        return int(st.f_blocks * st.f_frsize * self.share)


def low_watermark(budget_bytes: int) -> int:
    """Return where a pass stops: LOW_WATERMARK of the budget."""
    return int(budget_bytes * LOW_WATERMARK)
