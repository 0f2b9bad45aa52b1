"""The HTML report is self-contained and its charts are well formed."""

from __future__ import annotations

import random
import re

import pytest

from loadclient.durations import NS_PER_S
from loadclient.html import html_report
from loadclient.metrics import STATUS, Metrics
from loadclient.report import build
from loadclient.series import Series, interval_for


@pytest.mark.parametrize("n", [0, 1, 500, 5000])
def test_html_report(n: int) -> None:
    r = random.Random(n)
    m = Metrics(1_000_000_000)
    for k in range(n):
        due = k * 1_000_000
        done = due + int(r.lognormvariate(14, 1))
        if k % 100 == 7:
            m.add(0, due, due + 1000, done, 503, 10, 0, STATUS, "GET x: 503 <Unavailable>", None)
        else:
            m.add(0, due, due + 1000, done, 200, 10, 0, None, "", b"hit")
    report = build(m, wall_offset_ns=0, target_rate=1000)
    page = html_report(report, m.latency, m.series.rows())
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "src=" not in page and "://" not in page  # no network
    assert "&lt;Unavailable&gt;" in page or n < 8  # error text is escaped
    if n:
        assert page.count("<svg") == 3
        polylines = re.findall(r'<polyline[^>]*points="([^"]*)"', page)
        spectrum = [float(p.split(",")[0]) for p in polylines[3].split()]
        assert spectrum == sorted(spectrum)  # percentile axis only moves right


def test_series_points_are_bounded() -> None:
    assert interval_for(2 * NS_PER_S) == NS_PER_S // 10
    assert interval_for(3600 * NS_PER_S) == 6 * NS_PER_S  # an hour: still 600 points
    s = Series(interval_for(3600 * NS_PER_S))
    for k in range(0, 3600 * NS_PER_S, NS_PER_S // 50):
        s.add(k, 1_000_000, 1000, 200, False)
    assert len(s.rows()) == 600
