"""Every `loadclient run` setting, declared once: the loader, --help and the docs use it.

The environment variables are the Go client's (and the Indexed Job's); flags override them.
"""

from __future__ import annotations

from typing import Final

from cascommon.kinds import ADDRESS, BOOL, INT, NUMBER, PATH, TEXT, TOKEN, Kind, choice
from cascommon.settings import MAX_PROCESSES, Setting, Settings
from loadclient.blobs import parse_size
from loadclient.durations import (
    NS_PER_S,
    format_duration,
    parse_duration_ns,
    parse_rate,
    parse_seconds_ns,
)
from loadclient.stages import format_stages, parse_stages
from loadclient.timer import TIMERS
from loadclient.workload import Distribution

RATIO: Final = Kind("ratio", float, "a number like 0.5", "RATIO")
DURATION: Final = Kind("duration", parse_seconds_ns, "a duration like 10s, 500ms, 1m30s or a "
                       "number of seconds", "DUR", format_duration)  # fmt: skip
RATE: Final = Kind("rate", parse_rate, "a rate like 100, 100/1s or 5/100ms", "N[/1s]")
SIZE: Final = Kind("size", parse_size, "a size like 25000, 1k, 4m or a range 1k..1m", "BYTES")
DISTRIBUTION: Final = Kind("distribution", lambda t: str(Distribution.parse(t)),
                           "uniform, zipf or zipf:S", "D")  # fmt: skip
BUCKETS: Final = Kind(
    "durations",
    lambda t: tuple(parse_duration_ns(b) for b in t.split(",") if b.strip()),
    "comma-separated durations like 0,1ms,2ms,5ms",
    "LIST",
)


def parse_shard(text: str) -> tuple[int, int]:
    """Return (I, N) from `I/N` (0-based I of N shards)."""
    index, sep, count = text.strip().partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or int(count) < 1:
        raise ValueError(f"shard must be I/N, e.g. 0/3, got {text!r}")
    return int(index), int(count)


STAGES: Final = Kind("stages", parse_stages, "stages like 30s:100,60s:1000,30s:0", "DUR:RATE,...",
                    format_stages)  # fmt: skip
SHARD: Final = Kind("shard", parse_shard, "I/N with 0 <= I < N, e.g. 0/3", "I/N",
                    lambda i: f"{i}/1")  # fmt: skip
WORKLOAD: Final = "workload and sharding"
LIVE: Final = "live metrics (Prometheus)"
SEARCH: Final = "search"
THRESHOLDS: Final = "thresholds (exit 1 when one fails)"
SCHEDULE: Final = "schedule (exit 4 when the generator falls behind)"

S = Setting
# fmt: off
SETTINGS: Final = Settings("loadclient run", (
    S("cas_url", ("CAS_SERVER_ADDR",), "--cas", ADDRESS, "casserver base URL (env: host:port)."),
    S("cache_url", ("CACHE_SERVER_ADDR",), "--cache", ADDRESS,
      "cacheserver base URL (env: host:port)."),
    S("token", ("CAS_WRITE_TOKEN",), "--token", TOKEN,
      "casserver's write token, sent as 'Authorization: Bearer' on the uploads only "
      "(prefer the variable or the file: a flag shows in ps).", secret=True),
    S("size_bytes,size_max_bytes", ("CONTENT_SIZE",), "--size", SIZE,
      "Random blob size, or a range (each blob's size log-uniform in it)."),
    S("file", (), "--file", PATH, "Upload this file instead (not with --size)."),
    S("rate", ("ATTACK_FREQ",), "--rate", RATE,
      "Requests per period (env: per second); 0: as fast as possible over --connections "
      "(closed model, like wrk)."),
    S("duration_ns", ("ATTACK_DURATION",), "--duration", DURATION,
      "The sending window: what is due and unsent when it ends is dropped, not sent late.",
      low=1),
    S("stages", (), "--stages", STAGES,
      "A rate schedule instead of --rate/--duration (run only): each stage ramps linearly "
      "from the previous stage's rate (the first from 0) to its own, in requests per second.",
      unset="none"),
    S("hit_ratio", ("HIT_MISS_RATIO",), "--hit-ratio", RATIO,
      "Share of GETs for the uploaded blob; the rest ask for fresh blobs (misses).",
      low=0, high=1),
    S("timeout_ns", (), "--timeout", DURATION, "Per-request timeout.", low=1),
    S("connections", (), "--connections", INT,
      "Keep-alive connections opened before the start, each with one uncounted HEAD.", low=1),
    S("max_connections", (), "--max-connections", INT,
      "Most connections open at once per process, lowered to fit ulimit -n.", low=1),
    S("workers", (), "--workers", INT, "Attacking processes sharing the schedule.", low=1,
      high=MAX_PROCESSES),
    S("timer", (), "--timer", choice(*TIMERS),
      "precise (a timerfd: sends ~20-80 µs after due) or loop (1 ms timers: cheaper, later)."),
    S("skip_upload", (), "--skip-upload", BOOL,
      "The blob (--file) is already stored: attack without uploading."),
    S("seed", (), "--seed", TEXT, "Seed for the random blobs.", unset="random"),
    S("output", (), "--output", PATH, "Write the JSON report here.", unset="stdout"),
    S("html", (), "--html", PATH, "Write a self-contained HTML report here.", unset="none"),
    S("histogram_buckets_ns", (), "--histogram-buckets", BUCKETS,
      "Histogram report bucket bounds.", unset="0,1ms,2ms,... (text report)"),
    S("quiet", (), "--quiet", BOOL, "No text report or progress on stderr."),
    S("keys", (), "--keys", INT, "Upload N distinct blobs and GET them by --distribution "
      "instead of one hot blob; 0: one hot blob.", low=0, group=WORKLOAD),
    S("distribution", (), "--distribution", DISTRIBUTION,
      "Popularity of --keys: uniform or zipf[:S] (key 0 the most popular).", group=WORKLOAD),
    S("shard,shards", ("LOADCLIENT_SHARD",), "--shard", SHARD,
      "Send part I (0-based) of N of the schedule; --rate is the whole's; needs --seed.",
      group=WORKLOAD),
    S("start_at", ("LOADCLIENT_START_AT",), "--start-at", TEXT,
      "Start the schedule at this RFC 3339 time, e.g. 2026-12-01T10:00:00Z.",
      unset="at once", group=WORKLOAD),
    S("metrics_addr", (), "--metrics-addr", TEXT,
      "Serve Prometheus text at /metrics on HOST:PORT while the run lasts, for all --workers "
      "(e.g. 0.0.0.0:9464).", unset="off", group=LIVE),
    S("metrics_linger_ns", (), "--metrics-linger", DURATION,
      "Keep serving it this long after the run, so the last scrape sees the end.", low=0,
      group=LIVE),
    S("thresholds.max_error_rate", (), "--max-error-rate", RATIO, "Largest error ratio.",
      low=0, high=1, unset="none", group=THRESHOLDS),
    *(S(f"thresholds.max_{n}_ns", (), f"--max-{n}", DURATION, f"Largest {n} latency.",
        unset="none", group=THRESHOLDS) for n in ("mean", "p50", "p90", "p95", "p99", "p999")),
    S("thresholds.max_latency_ns", (), "--max-latency", DURATION, "Largest single latency.",
      unset="none", group=THRESHOLDS),
    S("thresholds.min_throughput", (), "--min-throughput", NUMBER,
      "Fewest successful requests/s.", low=0, unset="none", group=THRESHOLDS),
    S("schedule.max_send_lag_p99_ns", (), "--max-send-lag", DURATION, "p99 send lag allowed.",
      group=SCHEDULE),
    S("schedule.min_rate_ratio", (), "--min-rate-ratio", RATIO,
      "Achieved/target rate allowed.", low=0, high=1, group=SCHEDULE),
))
CAPACITY_SETTINGS: Final = Settings("loadclient capacity", (
    S("start_rate", (), "--start-rate", INT, "First (lowest) rate tried, per second.", low=1,
      group=SEARCH),
    S("max_rate", (), "--max-rate", INT, "Highest rate ever offered, per second.", low=1,
      group=SEARCH),
    S("growth", (), "--growth", NUMBER, "Factor between upward steps and ladder rungs (> 1).",
      low=1, group=SEARCH),
    S("precision", (), "--precision", RATIO,
      "Bisect until the failing rate is within this share of the passing one.", low=0, high=1,
      group=SEARCH),
    S("warm_up_ns", (), "--warm-up", DURATION,
      "Sent at the step's rate before its window, not judged.", low=0, group=SEARCH),
    S("window_ns", (), "--step-window", DURATION, "The steady window each step is judged on.",
      low=NS_PER_S // 1000, group=SEARCH),
    S("max_steps", (), "--max-steps", INT, "Most steps in all.", low=1, group=SEARCH),
))
# fmt: on
