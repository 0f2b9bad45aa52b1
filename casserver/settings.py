"""Every casserver setting, declared once: the loader, --help and docs/configuration.md use it."""

from __future__ import annotations

from typing import Final

from cascommon.kinds import BOOL, BYTES, INT, LOG_LEVEL, PATH, SECONDS, TEXT, TOKEN, Kind, choice
from cascommon.settings import MAX_PROCESSES, MAX_THREADS, Setting, Settings
from casserver.budget import ByteBudget

SERVERS: Final = ("granian", "gunicorn")
TASK_IMPLS: Final = ("rust", "asyncio")

S = Setting
MBPS: Final = Kind("number", float, "a number of MB/s like 100", "MB/S")


def _budget(text: str) -> str:
    ByteBudget.parse(text)  # raises BudgetError, a ValueError
    return text.strip()


BUDGET: Final = Kind(
    "size or share", _budget, "bytes, a size like 10GiB or a share like 85%", "SIZE"
)
# fmt: off
SETTINGS: Final = Settings("casserver", (
    S("host", ("CAS_SERVER_HOST",), "--host", TEXT, "Listen address."),
    S("port", ("CAS_SERVER_PORT",), "--port", INT, "Listen port.", low=1, high=65535),
    S("metrics_port", ("CAS_METRICS_PORT",), "--metrics-port", INT,
      "Serve /metrics on this port only, not on the client port.", low=1, high=65535,
      unset="unset: /metrics on the client port"),
    S("storage_dir", ("CAS_STORAGE_DIR",), "--storage", PATH, "Storage directory."),
    S("server", ("CAS_SERVER",), "--server", choice(*SERVERS), "HTTP server."),
    S("workers", ("CAS_WORKERS",), "--workers", INT, "Worker processes.", low=1,
      high=MAX_PROCESSES),
    S("threads", ("CAS_THREADS",), "--threads", INT, "App threads per worker.", low=1,
      high=MAX_THREADS),
    S("memory_cache_bytes", ("CAS_MEMORY_CACHE_BYTES",), "--memory-cache-bytes", BYTES,
      "Bytes of small blobs each granian worker keeps in memory for GETs; 0: none.", low=0),
    S("memory_cache_item_bytes", ("CAS_MEMORY_CACHE_ITEM_BYTES",), "--memory-cache-item-bytes",
      BYTES, "Largest blob kept in memory.", low=0),
    S("task_impl", ("CAS_TASK_IMPL",), "--task-impl", choice(*TASK_IMPLS),
      "How granian runs request coroutines (rust: before Python 3.12 only)."),
    S("max_blob_bytes", ("CAS_MAX_BLOB_BYTES",), None, BYTES, "Largest blob accepted (413).",
      low=1),
    S("max_ac_bytes", ("CAS_MAX_AC_BYTES",), None, BYTES, "Largest /ac/ action result.", low=1),
    S("min_free_bytes", ("CAS_MIN_FREE_BYTES",), None, BYTES,
      "Uploads that would leave less free on the volume get 507.", low=0),
    S("max_bytes", ("CAS_MAX_BYTES",), "--max-bytes", BUDGET,
      "Storage budget (bytes, 10GiB, or 85% of the volume); least recently used blobs and "
      "action results go past it (docs/storage.md).", unset="unset: nothing is evicted"),
    S("evict_grace_s", ("CAS_EVICT_GRACE_S",), None, SECONDS,
      "Nothing uploaded, read or re-uploaded this recently is evicted.", low=0),
    S("body_timeout_s", ("CAS_BODY_TIMEOUT_S",), None, SECONDS,
      "An upload that sends nothing for this long is dropped.", low=0.001),
    S("body_min_rate_bps", ("CAS_BODY_MIN_RATE_BPS",), None, INT,
      "Bytes/s an upload must average after the grace period (else 408).", low=0),
    S("body_grace_s", ("CAS_BODY_GRACE_S",), None, SECONDS,
      "Seconds before the minimum upload rate applies.", low=0),
    S("max_uploads", ("CAS_MAX_UPLOADS",), None, INT,
      "Uploads in progress per worker; past it 503 with Retry-After.", low=1),
    S("header_timeout_s", ("CAS_HEADER_TIMEOUT_S",), None, SECONDS,
      "Granian: longest wait for a request's headers, also the idle keep-alive time.",
      low=0.001, high=60),
    S("keepalive_s", ("CAS_KEEPALIVE_S",), None, SECONDS, "Gunicorn: idle keep-alive time.",
      low=0.001),
    S("max_connections", ("CAS_MAX_CONNECTIONS",), None, INT,
      "Granian: connections one worker holds open at once.", low=1),
    S("access_log", ("CAS_ACCESS_LOG",), None, BOOL, "Log every request."),
    S("log_level", ("LOG_LEVEL",), None, LOG_LEVEL, "Log level."),
    S("metrics_dir", ("PROMETHEUS_MULTIPROC_DIR",), None, PATH,
      "Directory of the workers' metrics files; one casserver uses it at a time.",
      unset="unset: a directory of its own in the system temp directory"),
    S("write_token", ("CAS_WRITE_TOKEN",), None, TOKEN,
      "Bearer token PUT and POST must carry.", secret=True, opens="writes"),
    S("read_token", ("CAS_READ_TOKEN",), None, TOKEN,
      "Bearer token GET and HEAD must carry.", secret=True, opens="reads"),
))
VERIFY_SETTINGS: Final = Settings("casserver verify", (
    S("storage_dir", ("CAS_STORAGE_DIR",), "--storage", PATH, "Storage directory to verify."),
    S("rate_mbps", (), "--rate-mbps", MBPS,
      "Most MB/s read beside running servers (online, the default).", low=0.001),
    S("offline", (), "--offline", BOOL, "No server uses the store: read at full speed."),
))
EVICT_SETTINGS: Final = Settings("casserver evict", (
    S("storage_dir", ("CAS_STORAGE_DIR",), "--storage", PATH, "Storage directory."),
    S("max_bytes", ("CAS_MAX_BYTES",), "--max-bytes", BUDGET,
      "Budget: the pass evicts down to 90% of it.", unset="unset: refused"),
    S("evict_grace_s", ("CAS_EVICT_GRACE_S",), None, SECONDS,
      "Without a running server: nothing used this recently is evicted.", low=0),
))
# fmt: on
