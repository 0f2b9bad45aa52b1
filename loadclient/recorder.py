"""The recorder: turns what happened to each exchange into a Result and adds it to Metrics.

Successes, nearly every request, are handed over in batches (Metrics.add_successes, much
cheaper per request than Metrics.add); flush() hands over the rest, so whoever reads the
metrics calls it first: the attacker does when its run ends and every sweep period.
"""

from __future__ import annotations

import time
from http import HTTPStatus

from loadclient.exchange import Exchange
from loadclient.metrics import Metrics, Success
from loadclient.result import Result

# A flush pauses the loop (~2 µs a success): batches are capped so a pause stays short, and
# the open model flushes between requests when the next is not due before it would end.
_BATCH = 128
_MIN_BATCH = 16  # below this a batch saves little over adding one by one
_FLUSH_NS_PER_SUCCESS = 5_000  # a generous bound on a flush's cost


class Recorder:
    """Recorder judges finished exchanges and records them; errors carry the request's URL."""

    def __init__(self, base_url: str, metrics: Metrics) -> None:
        self.base_url = base_url
        self.metrics = metrics
        self.batch: list[Success] = []

    def success(self, ex: Exchange, done_ns: int) -> None:
        """Success records a 200 whose body was already found right (the hot path)."""
        batch = self.batch
        batch.append((ex.due_ns, ex.sent_ns, done_ns, ex.bytes_in, ex.cache, ex.key))
        if len(batch) >= _BATCH:
            self.flush()

    def flush_within(self, slack_ns: int) -> None:
        """Flush_within flushes if enough successes wait and it would end within slack_ns."""
        n = len(self.batch)
        if n >= _MIN_BATCH and n * _FLUSH_NS_PER_SUCCESS < slack_ns:
            self.flush()

    def flush(self) -> None:
        """Flush hands the successes recorded so far to Metrics."""
        if self.batch:
            self.metrics.add_successes(self.batch)
            self.batch = []

    def answer(self, ex: Exchange, done_ns: int) -> None:
        """Answer records a whole response, judged by its status and body."""
        status = ex.status
        kind, error = ex.verdict()
        if kind is None:
            self.success(ex, done_ns)
            return
        error = f"GET {self.base_url}/cas/{ex.digest}: {error or f'{status} {_reason(status)}'}"
        ex.done_ns, ex.error_kind, ex.error = done_ns, kind, error
        self.metrics.add(ex)

    def failure(
        self, due_ns: int, sent_ns: int, kind: str, error: str, digest: str, key: int = -1
    ) -> None:
        """Failure records a request that got no whole answer: status 0 and no bytes, as vegeta."""
        url = f"{self.base_url}/cas/{digest}"
        self.metrics.add(
            Result(due_ns, sent_ns, time.monotonic_ns(), 0, 0, 0, kind, f"GET {url}: {error}",
                   None, key)
        )  # fmt: skip

    def dropped(self, count: int) -> None:
        """Dropped counts requests due within the window that were never sent."""
        self.metrics.dropped += count


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown Status"
