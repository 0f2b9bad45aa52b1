"""The HTML report is self-contained, its charts well formed, readable and true to the data."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest

from loadclient.durations import NS_PER_S
from loadclient.html import MAX_DOTS, W, html_report
from loadclient.metrics import CONNECT, INTEGRITY, STATUS, TIMEOUT, Metrics
from loadclient.report import Report
from loadclient.result import Result
from loadclient.series import Series, interval_for
from loadclient.text import text_report

MS = 1_000_000
START = 10 * NS_PER_S
URL = "http://127.0.0.1:1/cas/" + "ab" * 32
Outcome = Callable[[Metrics, int, int, random.Random], None]


def record(m: Metrics, start_ns: int, *fields: Any) -> None:
    """Record adds one Result to m, whose schedule started at start_ns."""
    m.start_ns = start_ns
    m.add(Result(*fields))


def build_json(m: Metrics, *, wall_offset_ns: int, target_rate: float) -> dict[str, Any]:
    """Build_json is the JSON report of m."""
    return Report(m, wall_offset_ns, target_rate).to_json()


def ok(m: Metrics, k: int, due: int, r: random.Random) -> None:
    record(
        m, START, due, due + 1000, due + int(r.lognormvariate(14, 1)), 200, 10, 0, None, "", b"hit"
    )


def some_503(m: Metrics, k: int, due: int, r: random.Random) -> None:
    if k % 100 == 7:
        record(
            m, START, due, due + 1000, due + MS, 503, 10, 0, STATUS, f"GET {URL}: 503 <Nope>", None
        )
    else:
        ok(m, k, due, r)


def refused(m: Metrics, k: int, due: int, r: random.Random) -> None:
    record(m, START, due, 0, due + 200_000, 0, 0, 0, CONNECT, f"GET {URL}: connect: refused", None)


def many_codes(m: Metrics, k: int, due: int, r: random.Random) -> None:
    status = (200, 200, 200, 301, 404, 429, 500, 502, 503, 504, 0)[k % 11]
    if status == 200:
        ok(m, k, due, r)
    else:
        record(m, START, due, due + 1, due + MS, status, 0, 0, STATUS, f"{status}", None)


def page(n: int, outcome: Outcome = ok, rate: int = 200) -> str:
    """Page renders n requests due at rate per second, each recorded by outcome."""
    r = random.Random(n)
    m = Metrics(interval_for(n * NS_PER_S // rate))
    for k in range(n):
        outcome(m, k, START + k * NS_PER_S // rate, r)
    report = build_json(m, wall_offset_ns=1_700_000_000 * NS_PER_S, target_rate=rate)
    return html_report(report, m.latency, m.series.rows())


def charts(text: str) -> list[ET.Element]:
    """Charts parses each inline SVG as XML, which also proves it well formed."""
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", text, re.S)]


def polyline(svg: ET.Element, name: str) -> list[tuple[float, float]]:
    for p in svg.iter("polyline"):
        if p.findtext("title") == name:
            return [
                (float(x), float(y))
                for x, y in (xy.split(",") for xy in p.attrib["points"].split())
            ]
    raise AssertionError(
        f"no line {name!r} in {[p.findtext('title') for p in svg.iter('polyline')]}"
    )


def y_ticks(svg: ET.Element) -> dict[float, float]:
    """Y_ticks maps each y-axis label's value to its height in the picture."""
    return {float(t.text or ""): float(t.attrib["y"]) - 4 for t in svg.iter("text")
            if t.attrib.get("text-anchor") == "end"}  # fmt: skip


def y_value(svg: ET.Element, y_px: float) -> float:
    """Y_value reads a height in the picture back as a value on the y axis."""
    ticks = sorted(y_ticks(svg).items())
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]
    return v0 + (y_px - p0) / (p1 - p0) * (v1 - v0)


@pytest.mark.parametrize("n", [0, 1, 100, 500, 5000])
def test_page_is_self_contained_and_well_formed(n: int) -> None:
    text = page(n, some_503)
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    # Nothing that makes a browser fetch; URLs as text (in error messages) are fine.
    for fetch in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"):
        assert fetch not in text.lower(), fetch
    assert "&lt;Nope&gt;" in text or n < 8  # error text is escaped
    assert len(charts(text)) == (3 if n else 0)
    assert text.count("<p>no data</p>") == (0 if n else 3)
    assert "0001-01-01" not in text  # Go's zero time is never shown as a date


@pytest.mark.parametrize("n", [1, 100, 500, 5000])
@pytest.mark.parametrize("outcome", [ok, some_503, many_codes])
def test_text_stays_inside_the_chart(n: int, outcome: Outcome) -> None:
    for svg in charts(page(n, outcome)):
        for t in svg.iter("text"):
            if "transform" in t.attrib:  # the rotated y-axis title
                continue
            x, width = float(t.attrib["x"]), 6.5 * len(t.text or "")  # 11px sans: <6.5px/char
            left = {"end": x - width, "middle": x - width / 2}.get(
                t.attrib.get("text-anchor", ""), x
            )
            assert 0 <= left and left + width <= W, t.text


@pytest.mark.parametrize("n", [1, 100, 500, 5000])
@pytest.mark.parametrize("outcome", [ok, some_503, many_codes])
def test_every_point_is_between_the_legend_and_the_top_gridline(n: int, outcome: Outcome) -> None:
    for svg in charts(page(n, outcome)):
        top = min(y_ticks(svg).values())
        legend = max(
            float(t.attrib["y"]) for t in svg.iter("text") if "text-anchor" not in t.attrib
        )
        assert legend + 4 < top - 6  # the legend's last row clears the top label
        ys = [y for p in svg.iter("polyline") for _, y in polyline(svg, p.findtext("title") or "")]
        assert min(ys) >= top - 0.1


@pytest.mark.parametrize("n", [10, 100, 200, 1000, 5000])
def test_spectrum_labels_do_not_collide(n: int) -> None:
    spectrum = charts(page(n))[1]
    below = [t for t in spectrum.iter("text") if t.attrib.get("text-anchor") == "middle"]
    title_y = max(float(t.attrib["y"]) for t in below)
    xs = sorted(float(t.attrib["x"]) for t in below if float(t.attrib["y"]) < title_y)
    assert all(b - a >= 30 for a, b in zip(xs, xs[1:], strict=False)), xs
    line = [x for x, _ in polyline(spectrum, "latency (ms)")]
    assert line == sorted(line)  # the percentile axis only moves right


def test_timeouts_are_charted_in_seconds() -> None:
    def timeouts(m: Metrics, k: int, due: int, r: random.Random) -> None:
        record(m, START, due, due + 1000, due + 30 * NS_PER_S, 0, 0, 0, TIMEOUT, "timeout", None)

    over_time, spectrum, _ = charts(page(50, timeouts, rate=50))
    assert max(y_ticks(over_time)) <= 60 and max(y_ticks(spectrum)) <= 60
    assert polyline(over_time, "max (s)") and polyline(spectrum, "latency (s)")


def test_status_codes_are_per_second() -> None:
    codes = charts(page(1000, some_503, rate=200))[2]
    ok_per_s = [y_value(codes, y) for _, y in polyline(codes, "status 200")]
    bad_per_s = [y_value(codes, y) for _, y in polyline(codes, "status 503")]
    assert ok_per_s and all(abs(v - 190) < 1 or abs(v - 200) < 1 for v in ok_per_s)
    assert sum(bad_per_s) == pytest.approx(10 * 10, abs=1)  # 10 errors, at 10 per s for 0.1 s
    errors = polyline(codes, "errors (any kind)")
    assert errors == polyline(codes, "status 503")  # the only errors are the 503s


def test_status_classes_have_their_colours_and_errors_include_bad_bodies() -> None:
    def mixed(m: Metrics, k: int, due: int, r: random.Random) -> None:
        if k % 5 == 1:
            record(m, START, due, due + 1, due + MS, 200, 1, 0, INTEGRITY, "wrong body", b"hit")
        elif k % 5 == 2:
            record(m, START, due, due + 1, due + MS, 500, 1, 0, STATUS, "500", None)
        elif k % 5 == 3:
            refused(m, k, due, r)
        else:
            ok(m, k, due, r)

    codes = charts(page(400, mixed))[2]
    colour = {p.findtext("title"): p.attrib["stroke"] for p in codes.iter("polyline")}
    assert colour["status 200"] == "#29a36a" and colour["status 500"] == "#d62728"
    assert len(set(colour.values())) == len(colour)
    # 3 of 5 are errors, though only 2 of 5 have an error status.
    errors = [y_value(codes, y) for _, y in polyline(codes, "errors (any kind)")]
    assert all(abs(v - 120) < 1 for v in errors), errors
    assert "no response (0)" in colour


def test_nothing_sent_shows_no_start_time() -> None:
    text = page(20, refused)
    assert "0001-01-01" not in text
    assert len(charts(text)) == 3 and "connect: refused" in text


def test_long_runs_draw_lines_without_dots() -> None:
    long, short = page(20 * 200, rate=20), page(100)  # 200 s: 200 points; 0.5 s: 5 points
    over_time = charts(long)[0]
    assert len(polyline(over_time, "p50 (ms)")) > MAX_DOTS and not list(over_time.iter("circle"))
    assert len(list(charts(short)[0].iter("circle"))) == 3 * 5


def test_series_points_are_bounded() -> None:
    assert interval_for(2 * NS_PER_S) == NS_PER_S // 10
    assert interval_for(3600 * NS_PER_S) == 6 * NS_PER_S  # an hour: still 600 points
    s = Series(interval_for(3600 * NS_PER_S))
    for k in range(0, 3600 * NS_PER_S, NS_PER_S // 50):
        s.add(k, 1_000_000, 1000, 200, False)
    assert len(s.rows()) == 600


def test_an_interrupted_run_says_so_in_html_and_text() -> None:
    m = Metrics(interval_for(NS_PER_S))
    ok(m, 0, START, random.Random(1))
    report = build_json(m, wall_offset_ns=0, target_rate=10)
    report["verdict"] = {"passed": False, "failures": [], "behind": [], "interrupted": True}
    assert "interrupted" in html_report(report, m.latency, m.series.rows()).lower()
    assert "INTERRUPTED" in text_report(report)
