"""The offered schedule beside what was achieved: per series interval (the HTML's rate chart)
and per stage of `--stages` (the report's `stages` array)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from loadclient.durations import NS_PER_S, format_duration
from loadclient.series import Series


class Offered(Protocol):
    """Offered is a pacer's cumulative schedule (ConstantPacer and StagedPacer have it)."""

    def hits_by(self, elapsed_ns: int) -> float:
        """Hits_by is how many hits the whole schedule offers by elapsed_ns."""
        ...


def with_rates(
    rows: Sequence[Mapping[str, Any]], interval_ns: int, offered: Offered, shards: int = 1
) -> list[dict[str, Any]]:
    """With_rates adds offered_per_s and achieved_per_s to each series row.

    Achieved counts the requests due in the interval that were sent (dropped ones are not);
    offered is this generator's part of the schedule over the same interval.
    """
    width_s = interval_ns / NS_PER_S
    out = []
    for r in rows:
        start = round(r["t_s"] * NS_PER_S)
        due = offered.hits_by(start + interval_ns) - offered.hits_by(start)
        out.append({**r, "offered_per_s": due / shards / width_s,
                    "achieved_per_s": r["count"] / width_s})  # fmt: skip
    return out


def stage_blocks(
    spans: Sequence[tuple[int, int]], names: Sequence[str], series: Series, offered: Offered,
    shards: int = 1,
) -> list[dict[str, Any]]:  # fmt: skip
    """Stage_blocks is one `stages` entry per stage: offered and sent requests, mean rates.

    A stage is measured over the series intervals that start within it (its bounds rounded up
    to the interval, e.g. 100 ms), offered over the very same span, so the two compare exactly.
    """
    w = series.interval_ns
    blocks = []
    for (a, b), name in zip(spans, names, strict=True):
        first, end = -(-a // w), -(-b // w)
        sent = sum(p.count for i, p in series.points.items() if first <= i < end)
        errors = sum(p.errors for i, p in series.points.items() if first <= i < end)
        span_s = (end - first) * w / NS_PER_S
        want = (offered.hits_by(end * w) - offered.hits_by(first * w)) / shards
        blocks.append({
            "stage": name, "start": format_duration(a), "end": format_duration(b),
            "offered_requests": round(want, 3), "requests": sent, "errors": errors,
            "target_rate": want / span_s if span_s else 0.0,
            "achieved_rate": sent / span_s if span_s else 0.0,
        })  # fmt: skip
    return blocks


def merge_stage_blocks(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """Merge_stage_blocks adds the `stages` of reports of one schedule (None: none has them).

    Reports of different schedules (staged and not, or other stages) raise ValueError: their
    sums would mean nothing, and dropping the stages silently would hide it.
    """
    all_blocks = [r.get("stages") for r in reports]
    if not any(isinstance(b, list) for b in all_blocks):
        return None
    first = all_blocks[0]
    if not isinstance(first, list) or any(
        not isinstance(b, list) or [s["stage"] for s in b] != [s["stage"] for s in first]
        for b in all_blocks
    ):
        raise ValueError("the reports ran different schedules (--stages): not merged")
    merged = []
    for i, block in enumerate(first):
        parts = [b[i] for b in all_blocks]  # type: ignore[index]
        out = dict(block)
        for k in ("offered_requests", "requests", "errors", "target_rate", "achieved_rate"):
            out[k] = sum(p[k] for p in parts)
        out["offered_requests"] = round(out["offered_requests"], 3)
        merged.append(out)
    return merged
