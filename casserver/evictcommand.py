"""``casserver evict``: one eviction pass now, by the running evictor or by this process."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry

from casserver.budget import low_watermark
from casserver.config import ENV, Config, ConfigError
from casserver.evictor import REQUEST_NAME, RESULT_NAME, Evictor, EvictorSettings
from casserver.metrics import EvictionMetrics

WAIT_S: Final = 600.0


def main(argv: Sequence[str]) -> None:
    """Run one pass down to the low watermark and print its result as JSON."""
    parser = argparse.ArgumentParser(
        prog="casserver evict",
        description="Evict least recently used blobs down to the low watermark (90% of "
        "the budget) now. A running casserver's evictor does it; without one, this does.",
    )
    parser.add_argument("--storage", help=f"storage directory (env {ENV['storage_dir']})")
    parser.add_argument(
        "--max-bytes", help=f"budget: bytes, 10GiB or 85%% (env {ENV['max_bytes']})"
    )
    args = parser.parse_args(argv)
    overrides = {"storage_dir": args.storage, "max_bytes": args.max_bytes}
    environ = {**os.environ, **{ENV[k]: v for k, v in overrides.items() if v is not None}}
    try:
        settings = EvictorSettings.from_config(Config.from_env(environ))
    except ConfigError as exc:
        sys.exit(f"casserver evict: {exc}")
    if settings is None:
        sys.exit(f"casserver evict: no budget: set {ENV['max_bytes']} or --max-bytes")
    evictor = Evictor(settings, EvictionMetrics(CollectorRegistry()))
    target = low_watermark(evictor.budget_bytes)
    if evictor.try_lock() is not None:
        result = evictor.one_pass(target).to_json()
    else:
        result = _ask(evictor, target)
    print(json.dumps(result))


def _ask(evictor: Evictor, target_bytes: int) -> dict[str, object]:
    """Ask the evictor that holds the lock for a pass and wait for its answer."""
    token = secrets.token_hex(8)
    request = evictor.dir / (REQUEST_NAME + ".tmp")
    request.write_text(json.dumps({"token": token, "target_bytes": target_bytes}))
    request.replace(evictor.dir / REQUEST_NAME)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            answer: dict[str, object] = json.loads((evictor.dir / RESULT_NAME).read_text())
        except (FileNotFoundError, ValueError):
            continue
        if answer.get("request") == token:
            return answer
    sys.exit(f"casserver evict: no pass within {WAIT_S:.0f}s (is the evictor stuck?)")
