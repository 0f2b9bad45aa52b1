from pathlib import Path

import pytest

from casserver.__main__ import parser
from casserver.config import GIB, Config, ConfigError


def test_defaults() -> None:
    c = Config.from_env({})
    assert (c.host, c.port, c.storage_dir, c.max_blob_bytes) == (
        "0.0.0.0",
        5000,
        Path("./cas-data"),
        GIB,
    )
    assert (c.min_free_bytes, c.access_log, c.log_level, c.metrics_dir) == (0, False, "INFO", None)


def test_from_env_reads_every_variable() -> None:
    c = Config.from_env(
        {
            "CAS_SERVER_HOST": "127.0.0.1",
            "CAS_SERVER_PORT": "6000",
            "CAS_STORAGE_DIR": "/data",
            "CAS_MAX_BLOB_BYTES": "1024",
            "CAS_MIN_FREE_BYTES": "10",
            "CAS_BODY_TIMEOUT_S": "2.5",
            "CAS_WORKERS": "3",
            "CAS_THREADS": "4",
            "CAS_ACCESS_LOG": "true",
            "LOG_LEVEL": "debug",
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/m",
        }
    )
    assert c == Config(
        host="127.0.0.1",
        port=6000,
        storage_dir=Path("/data"),
        max_blob_bytes=1024,
        min_free_bytes=10,
        body_timeout_s=2.5,
        workers=3,
        threads=4,
        access_log=True,
        log_level="DEBUG",
        metrics_dir=Path("/tmp/m"),
    )


def test_slow_client_and_server_settings() -> None:
    c = Config.from_env(
        {
            "CAS_SERVER": "Gunicorn",
            "CAS_BODY_MIN_RATE_BPS": "1000",
            "CAS_BODY_GRACE_S": "2.5",
            "CAS_MAX_UPLOADS": "3",
            "CAS_HEADER_TIMEOUT_S": "5",
            "CAS_KEEPALIVE_S": "80",
            "CAS_MAX_CONNECTIONS": "100",
        }
    )
    assert (c.server, c.body_min_rate_bps, c.body_grace_s, c.max_uploads) == (
        "gunicorn",
        1000,
        2.5,
        3,
    )
    assert (c.header_timeout_s, c.keepalive_s, c.max_connections) == (5.0, 80.0, 100)
    assert Config().server == "granian"


def test_empty_values_mean_default() -> None:
    assert Config.from_env({"CAS_SERVER_PORT": "", "PROMETHEUS_MULTIPROC_DIR": ""}) == Config()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAS_SERVER_PORT", "http"),
        ("CAS_SERVER_PORT", "0"),
        ("CAS_SERVER_PORT", "70000"),
        ("CAS_MAX_BLOB_BYTES", "0"),
        ("CAS_MAX_AC_BYTES", "0"),
        ("CAS_MAX_AC_BYTES", "1 MiBs"),
        ("CAS_MIN_FREE_BYTES", "-1"),
        ("CAS_WORKERS", "0"),
        ("CAS_BODY_TIMEOUT_S", "0"),
        ("CAS_BODY_TIMEOUT_S", "soon"),
        ("CAS_ACCESS_LOG", "maybe"),
        ("LOG_LEVEL", "loud"),
        ("CAS_SERVER", "uwsgi"),
        ("CAS_HEADER_TIMEOUT_S", "61"),
        ("CAS_MAX_UPLOADS", "0"),
        ("CAS_BODY_MIN_RATE_BPS", "-1"),
        ("CAS_MAX_CONNECTIONS", "0"),
    ],
)
def test_bad_values_are_refused_with_the_variable_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def config_of(argv: list[str], env: dict[str, str] | None = None) -> Config:
    return Config.from_env(env or {}, parser().parse_args(argv))


def test_action_results_are_bounded_by_one_mib_by_default() -> None:
    assert Config.from_env({}).max_ac_bytes == 1 << 20
    assert Config.from_env({"CAS_MAX_AC_BYTES": "4096"}).max_ac_bytes == 4096


def test_the_metrics_port_is_unset_by_default_and_read_from_env_or_flag() -> None:
    assert Config.from_env({}).metrics_port is None
    assert Config.from_env({"CAS_METRICS_PORT": "9100"}).metrics_port == 9100
    env = {"CAS_METRICS_PORT": "9100"}
    assert config_of(["--metrics-port", "9200"], env).metrics_port == 9200


@pytest.mark.parametrize("env", [{"CAS_METRICS_PORT": "0"}, {"CAS_METRICS_PORT": "5000"}])
def test_a_metrics_port_must_be_a_port_apart_from_the_listen_port(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="CAS_METRICS_PORT"):
        Config.from_env(env)


def test_the_memory_cache_is_on_by_default_and_set_by_env_or_flag() -> None:
    c = Config.from_env({})
    assert (c.memory_cache_bytes, c.memory_cache_item_bytes) == (32 << 20, 256 << 10)
    c = Config.from_env({"CAS_MEMORY_CACHE_BYTES": "0", "CAS_MEMORY_CACHE_ITEM_BYTES": "4096"})
    assert (c.memory_cache_bytes, c.memory_cache_item_bytes) == (0, 4096)
    flags = ["--memory-cache-bytes", "1MiB", "--memory-cache-item-bytes", "65536"]
    c = config_of(flags, {"CAS_MEMORY_CACHE_BYTES": "0"})
    assert (c.memory_cache_bytes, c.memory_cache_item_bytes) == (1 << 20, 65536)


@pytest.mark.parametrize("name", ["CAS_MEMORY_CACHE_BYTES", "CAS_MEMORY_CACHE_ITEM_BYTES"])
@pytest.mark.parametrize("value", ["-1", "lots"])
def test_memory_cache_sizes_are_checked(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})


def test_granian_runs_rust_tasks_unless_told_otherwise() -> None:
    assert Config.from_env({}).task_impl == "rust"
    assert Config.from_env({"CAS_TASK_IMPL": "AsyncIO"}).task_impl == "asyncio"
    assert config_of(["--task-impl", "asyncio"]).task_impl == "asyncio"
    with pytest.raises(ConfigError, match="CAS_TASK_IMPL"):
        Config.from_env({"CAS_TASK_IMPL": "threads"})
