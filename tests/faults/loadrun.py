"""Loadclient as a child process: start one run, wait for it, read its JSON report into a Load."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import PYTHON

NS_PER_S = 1e9


@dataclass(frozen=True, slots=True)
class Load:
    """Load is what one loadclient run measured, in the figures the fault scripts print."""

    requests: int
    failed: int
    timeouts: int
    p99_s: float
    max_s: float
    status_codes: dict[str, int]
    cache: dict[str, int]
    exit_code: int

    @property
    def error_share(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @classmethod
    def from_report(cls, report: dict[str, Any], exit_code: int) -> Load:
        """From_report reads loadclient's Vegeta-style JSON report."""
        n = int(report["requests"])
        return cls(
            requests=n,
            failed=n - round(float(report["success"]) * n),
            timeouts=int(report.get("error_counts", {}).get("timeout", 0)),
            p99_s=report["latencies"]["99th"] / NS_PER_S,
            max_s=report["latencies"]["max"] / NS_PER_S,
            status_codes=dict(report["status_codes"]),
            cache=dict(report.get("cache", {})),
            exit_code=exit_code,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "error_share": self.error_share,
            "timeouts": self.timeouts,
            "p99_s": round(self.p99_s, 4),
            "max_s": round(self.max_s, 4),
            "status_codes": self.status_codes,
            "cache": self.cache,
            "loadclient_exit": self.exit_code,
        }


class LoadRun:
    """LoadRun is one running ``loadclient run``; its report goes to a file."""

    def __init__(self, args: list[str], report: Path, log: Path) -> None:
        self.report = report
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "loadclient", "run", "--quiet", "--output", str(report), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout_s: float) -> Load:
        """Wait waits for the run (killing it past timeout_s) and returns what it measured."""
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        if not self.report.exists():
            raise RuntimeError(f"loadclient exited {code} without a report ({self.report})")
        return Load.from_report(json.loads(self.report.read_text()), code)
