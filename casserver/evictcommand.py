"""``casserver evict``: one eviction pass now, by the running evictor or by this process."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry

from casserver.budget import ByteBudget, low_watermark
from casserver.config import ConfigError, EvictConfig, check_store
from casserver.evictor import REQUEST_NAME, RESULT_NAME, Evictor, EvictorSettings
from casserver.metrics import EvictionMetrics
from casserver.settings import EVICT_SETTINGS

WAIT_S: Final = 600.0


def parser() -> argparse.ArgumentParser:
    """Return ``casserver evict``'s parser."""
    p = argparse.ArgumentParser(
        prog="casserver evict",
        description="Evict least recently used blobs down to the low watermark (90% of the "
        "budget) now. A running casserver's evictor does it; without one, this does.",
    )
    EVICT_SETTINGS.add_flags(p, EvictConfig())
    return p


def main(argv: Sequence[str]) -> int:
    """Run one pass down to the low watermark, print its result as JSON, return 0."""
    config = EvictConfig.from_env(os.environ, parser().parse_args(argv))
    if config.max_bytes is None:
        raise ConfigError("no budget: set CAS_MAX_BYTES or --max-bytes")
    check_store(config.storage_dir)
    budget = ByteBudget.parse(config.max_bytes)
    settings = EvictorSettings(config.storage_dir, budget, config.evict_grace_s, 0)
    evictor = Evictor(settings, EvictionMetrics(CollectorRegistry()))
    target = low_watermark(evictor.budget_bytes)
    if evictor.try_lock() is not None:
        # No server holds the lock: this process evicts, with the grace of its environment.
        result = evictor.one_pass(target).to_json()
    else:
        result = _ask(evictor, target)
    print(json.dumps(result))
    return 0


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
    raise ConfigError(f"no pass within {WAIT_S:.0f}s (is the evictor stuck?)")
