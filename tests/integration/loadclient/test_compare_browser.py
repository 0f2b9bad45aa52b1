"""`loadclient compare --html` renders in a real headless browser (Debian's chromium) cleanly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from loadclient.compare_html import compare_html
from tests.unit.loadclient.test_compare import A, B

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed")
def test_html_renders_in_headless_chromium_without_errors(tmp_path: Path) -> None:
    page = tmp_path / "compare.html"
    page.write_text(compare_html(A, B, "a.json", "b.json"))
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<svg" in proc.stdout and "loadclient compare" in proc.stdout
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
