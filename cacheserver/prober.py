"""Background health checks: every peer and the origin are probed off the request path.

A backed-off upstream comes back only when a probe answers, so no client request is
spent finding out; a healthy one is probed too, so a member that goes silent with no
traffic towards it is noticed within an interval and a first-byte timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from cacheserver.errors import ConnectFailed, LoadError
from cacheserver.health import Health, State
from cacheserver.routes import PEER_HEALTH
from cacheserver.upstream import Upstream
from cascommon.health import HEALTH_PATH

log = logging.getLogger(__name__)

MAX_PROBES: Final = 8
PEER_HEALTH_PATH: Final = PEER_HEALTH
ORIGIN_HEALTH_PATH: Final = HEALTH_PATH


@dataclass(frozen=True, slots=True)
class Target:
    """Target is one upstream to probe: its health, its client and the path to GET."""

    health: Health
    upstream: Upstream
    path: str


class Prober:
    """Prober probes every target each interval_s on a thread of its own."""

    def __init__(self, targets: Callable[[], list[Target]], interval_s: float) -> None:
        self._targets = targets
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(MAX_PROBES, thread_name_prefix="probe")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start watches the targets: from now on only a probe brings one back."""
        threading.Thread(target=self._loop, name="prober", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            for target in self._targets():
                target.health.watched = True
                name = target.upstream.base_url
                with self._lock:
                    if name in self._running:
                        continue  # the last probe still waits: one at a time each
                    self._running.add(name)
                self._pool.submit(self._probe, target)

    def _probe(self, target: Target) -> None:
        health, name = target.health, target.upstream.base_url
        before = health.state()
        try:
            target.upstream.probe(target.path)
        except ConnectFailed as ex:
            # Backed off already: failing probes must not push its return further away.
            if before is State.UP:
                health.failed(str(ex))
        except LoadError as ex:
            health.probed(False, str(ex))
        else:
            health.probed(True)
        finally:
            with self._lock:
                self._running.discard(name)
        after = health.state()
        if after != before:
            down = after is State.DOWN
            log.log(
                logging.WARNING if down else logging.INFO, "upstream %s", after.value,
                extra={"upstream": name, "cause": health.last_cause if down else ""},
            )  # fmt: skip

    def stop(self) -> None:
        """Stop ends the probes."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
