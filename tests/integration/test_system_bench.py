"""A small bench/system.py run: our tier against three nginx proxy_caches, figures checked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--rate", "100", "--duration", "2", "--cache-bytes", str(4 << 20), "--keys", "150"]
SMALL += ["--zipf-size", "50000", "--zipf-requests", "600", "--zipf-rate", "300", "--freeze", "2"]


@pytest.mark.timeout(400)
@pytest.mark.skipif(
    not (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")), reason="no nginx"
)
def test_system_bench_compares_both_tiers_and_ours_loads_a_cold_key_once(tmp_path: Path) -> None:
    out = tmp_path / "system.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.system", *SMALL, "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=360, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    ours, nginx = result["ours"], result["nginx"]
    for side in (ours, nginx):
        assert side["cached_get"]["requests"] == 200 and side["cached_get"]["failed"] == 0
        assert side["cached_get_max"]["requests"] > 0
        assert side["stampede"]["ok"] == 100
        # 600 by the driver; loadclient's shards may drop a few on a loaded machine.
        assert side["zipf"]["errors"] == 0 and 570 <= side["zipf"]["requests"] <= 600
        assert len(side["frozen_origin"]["misses"]) == 5
    # One fill per key in the whole tier; each nginx fills its own copy (proxy_cache_lock
    # makes that one per instance at best).
    assert ours["stampede"]["origin_loads"] == 1
    assert 1 <= nginx["stampede"]["origin_loads"] <= 3
    # 7.5 MB of keys: more than one 4 MiB cache holds, less than three do. The ring keeps one
    # copy per key, so it loads fewer keys from the origin than three separate caches.
    assert ours["zipf"]["origin_loads"] < nginx["zipf"]["origin_loads"]
    for line in ("cold key x100: origin loads", "zipf hit ratio", "ours/nginx"):
        assert line in done.stdout
