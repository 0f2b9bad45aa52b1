"""Config: environment fallbacks (the Go client's variables), flags override, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadclient.cli import build_config, main
from loadclient.config import Config, ConfigError, addr_to_url
from loadclient.durations import NS_PER_S, Rate
from loadclient.flags import parser

GO_ENV = {
    "CAS_SERVER_ADDR": "cas:5000",
    "CACHE_SERVER_ADDR": "cache-0.cache:18001",
    "CONTENT_SIZE": "1024",
    "ATTACK_FREQ": "250",
    "ATTACK_DURATION": "30",
    "HIT_MISS_RATIO": "0.9",
}


def config(argv: list[str], env: dict[str, str] | None = None) -> Config:
    return build_config(parser().parse_args(["run", *argv]), env or {})


def test_from_env_reads_the_go_variables() -> None:
    c = Config.from_env(GO_ENV)
    assert c.cas_url == "http://cas:5000"
    assert c.cache_url == "http://cache-0.cache:18001"
    assert (c.size_bytes, c.rate, c.duration_ns, c.hit_ratio) == (
        1024, Rate(250), 30 * NS_PER_S, 0.9,
    )  # fmt: skip


def test_defaults_without_env() -> None:
    c = Config.from_env({})
    assert (c.size_bytes, c.rate, c.duration_ns, c.hit_ratio) == (
        25_000,
        Rate(100),
        10 * NS_PER_S,
        1.0,
    )


def test_flags_override_env() -> None:
    c = config(["--cache", "http://127.0.0.1:9/", "--rate", "5/100ms", "--duration", "2s",
                "--hit-ratio", "0.5", "--max-p99", "20ms", "--max-error-rate", "0.01",
                "--max-send-lag", "5ms"], GO_ENV)  # fmt: skip
    assert c.cache_url == "http://127.0.0.1:9"
    assert c.cas_url == "http://cas:5000"
    assert (c.rate, c.duration_ns, c.hit_ratio) == (Rate(5, 100_000_000), 2 * NS_PER_S, 0.5)
    assert c.thresholds.max_p99_ns == 20_000_000 and c.thresholds.max_error_rate == 0.01
    assert c.schedule.max_send_lag_p99_ns == 5_000_000
    assert c.size_bytes == 1024


def test_timer_is_precise_unless_asked_for_the_loop_timer() -> None:
    base = ["--cas", "http://a", "--cache", "http://b"]
    assert config(base).timer == "precise"
    assert config([*base, "--timer", "loop"]).timer == "loop"
    with pytest.raises(ConfigError):
        Config(cache_url="http://b", cas_url="http://a", timer="spin").validate()


def test_file_replaces_size(tmp_path: Path) -> None:
    f = tmp_path / "blob"
    f.write_bytes(b"x")
    assert config(["--cas", "http://a", "--cache", "http://b", "--file", str(f)]).file == f


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ([], {}),  # no cache address
        (["--cache", "http://c"], {}),  # no cas address and no --skip-upload
        (["--cache", "http://c", "--cas", "http://a", "--hit-ratio", "1.5"], {}),
        (["--cache", "http://c", "--cas", "http://a", "--duration", "0s"], {}),
        (["--cache", "http://c", "--skip-upload", "--hit-ratio", "0.5"], {}),
        (["--cache", "http://c", "--skip-upload"], {}),  # nothing says which blob is there
        ([], {**GO_ENV, "CONTENT_SIZE": "big"}),
    ],
)
def test_invalid_configs(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        config(argv, env)


def test_workload_and_shard_flags_and_env() -> None:
    c = config(["--cache", "http://c", "--cas", "http://a", "--keys", "200", "--distribution",
                "zipf", "--size", "1k..1m", "--seed", "s"],
               {"LOADCLIENT_SHARD": "1/3",
                "LOADCLIENT_START_AT": "2026-12-01T10:00:00Z"})  # fmt: skip
    assert (c.keys, c.distribution, c.size_bytes, c.size_max_bytes) == (
        200,
        "zipf:1",
        1024,
        1 << 20,
    )
    assert (c.shard, c.shards, c.start_at) == (1, 3, "2026-12-01T10:00:00Z")
    c = config(["--cache", "http://c", "--cas", "http://a", "--shard", "0/2", "--seed", "s"],
               {"LOADCLIENT_SHARD": "1/3"})  # fmt: skip
    assert (c.shard, c.shards) == (0, 2)


def test_addr_to_url() -> None:
    assert addr_to_url("host:1") == "http://host:1"
    assert addr_to_url("http://host:1/") == "http://host:1"


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--timeout", "0"], {}),  # every request would time out (and the upload cannot run)
        (["--timeout="], {}),
        (["--duration="], {}),
        (["--rate="], {}),
        (["--max-send-lag="], {}),
        (["--duration", "9" * 400 + "h"], {}),  # overflows a float
        ([], {"ATTACK_DURATION": "inf"}),
        ([], {"ATTACK_DURATION": "1e999"}),
        (["--max-error-rate", "-0.1"], {}),
        (["--max-error-rate", "nan"], {}),
        (["--min-rate-ratio", "1.5"], {}),
        (["--min-throughput", "nan"], {}),  # would print NaN: stdout would not be JSON
        (["--min-throughput", "-1"], {}),
        (["--rate", "0", "--hit-ratio", "0.5"], {}),  # no count of fresh blobs to upload
        (["--output", "/nonexistent-dir/r.json"], {}),  # found out before the run, not after
        (["--html", "/nonexistent-dir/r.html"], {}),
        (["--output", "/"], {}),
        (["--keys", "-1"], {}),
        (["--keys", "10", "--hit-ratio", "0.5"], {}),  # keys are the whole workload
        (["--distribution", "zipf:0"], {}),
        (["--size", "2k..1k"], {}),
        (["--shard", "2/2", "--seed", "s"], {}),
        (["--shard", "0/2"], {}),  # every shard must make the same blobs: a shared seed
        (["--shard", "1/2", "--seed", "s", "--rate", "0"], {}),  # a closed model has no schedule
        (["--shard", "x"], {}),
        (["--start-at", "2026-12-01T10:00:00"], {}),  # no zone: which 10:00?
        ([], {"LOADCLIENT_SHARD": "3"}),
    ],
)
def test_unusable_values_are_usage_errors(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Exit 2 with one clear line, never a traceback (or a run that cannot mean anything).
    argv = ["run", "--cas", "http://127.0.0.1:1", "--cache", "http://127.0.0.1:1", *argv]
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("loadclient: ") and err.count("\n") == 1, err
