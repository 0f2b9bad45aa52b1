"""`loadclient compare`: every figure of both reports in text, and a well-formed HTML page."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from loadclient.cli import main
from loadclient.compare import compare_text, figures
from loadclient.compare_html import compare_html
from loadclient.metrics import Metrics
from loadclient.report import Report, dumps
from loadclient.result import STATUS, Result

MS = 1_000_000


def _report(latency_ms: float, n: int, errors: int = 0) -> dict[str, Any]:
    m = Metrics(100 * MS)
    for i in range(n):
        due = i * 10 * MS
        kind = STATUS if i < errors else None
        m.add(Result(due, due + 50_000, due + int(latency_ms * MS), 200, 25, 0, kind, "", b"hit"))
    return Report(m, 1_700_000_000 * 10**9, 100.0).to_json()


A, B = _report(2.0, 200), _report(5.0, 300, errors=3)


def test_text_has_every_figure_of_both_with_change_and_ratio() -> None:
    text = compare_text(A, B)
    lines = {line.split()[0]: line.split() for line in text.splitlines()[1:]}
    for name, _, _ in figures(A):
        assert name in lines
    assert lines["requests"] == ["requests", "200", "300", "+100", "1.500x"]
    assert lines["latencies.50th"][1:3] == ["2ms", "5ms"]
    assert lines["latencies.50th"][4] == "2.500x"
    assert "error_counts.status" in lines


def test_cli_prints_it_and_rejects_what_is_not_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    a.write_text(dumps(A))
    b.write_text(dumps(B))
    bad.write_text("[1]")
    assert main(["compare", str(a), str(b), "--html", str(tmp_path / "c.html")]) == 0
    assert "latencies.99th" in capsys.readouterr().out
    assert (tmp_path / "c.html").read_text().startswith("<!doctype html>")
    assert main(["compare", str(a), str(bad)]) == 2
    capsys.readouterr()
    # Each file must be a report (one report and `{}` once compared "fine"); numbers finite.
    for text in ("{}", '{"latencies": {"mean": 1e400}}', '{"latencies": {"mean": Infinity}}'):
        bad.write_text(text)
        assert main(["compare", str(a), str(bad)]) == 2, text
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"loadclient compare: {bad}: not a loadclient JSON")


def test_html_overlays_both_runs_and_is_well_formed() -> None:
    page = compare_html(A, B, "a.json", "b.json")
    body = page.split("<body>", 1)[1].rsplit("</body>", 1)[0]
    ET.fromstring(f"<body>{body}</body>")  # well-formed: every tag closed
    assert page.count("<polyline") == 2 and "A: a.json" in page and "B: b.json" in page
    assert "<script" not in page
