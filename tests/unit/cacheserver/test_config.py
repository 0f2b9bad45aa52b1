"""Config from the environment and from flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from cacheserver.__main__ import parse_args
from cacheserver.config import MIB, Config, ConfigError, dns_target
from cacheserver.membership import member_url, stable_name
from cascommon.gunicornapp import bind_address


def test_defaults() -> None:
    config = Config.from_env({})
    assert (config.host, config.port, config.cache_bytes) == ("0.0.0.0", 18001, 64 * MIB)
    assert config.item_limit_bytes == 4 * MIB
    assert config.member_url == "http://127.0.0.1:18002"  # the peer listener
    assert config.peer_port == 18002 and config.peer_token is None
    assert (config.miss_limit, config.max_blob_bytes) == (6, 1 << 30)
    assert config.peers == ()
    assert (config.threads, config.fill_threads) == (8, 8)


def test_environment() -> None:
    config = Config.from_env(
        {
            "LISTEN_PORT": "9000",
            "CACHE_HOST": "127.0.0.2",
            "CAS_SERVER_ADDR": "cas:5000",
            "CACHE_PEERS": "http://a:9000/, http://b:9000,,",
            "CACHE_SELF": "http://a:9000/",
            "CACHE_BYTES": "1000",
            "CACHE_MAX_ITEM_BYTES": "10",
            "CACHE_THREADS": "3",
            "CACHE_FILL_THREADS": "5",
            "CACHE_PEER_TIMEOUT_S": "0.5",
            "CACHE_ORIGIN_TIMEOUT_S": "1.5",
            "CACHE_FETCH_TOTAL_TIMEOUT_S": "12",
            "CACHE_NEGATIVE_TTL_S": "2",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.port == 9000 and config.host == "127.0.0.2"
    assert config.origin_url == "http://cas:5000"
    assert config.peers == ("http://a:9000/", "http://b:9000")
    assert config.member_url == "http://a:9000"
    assert (config.cache_bytes, config.item_limit_bytes, config.threads) == (1000, 10, 3)
    assert config.fill_threads == 5
    assert (config.peer_timeout_s, config.origin_timeout_s) == (0.5, 1.5)
    assert config.fetch_total_timeout_s == 12
    assert config.negative_ttl_s == 2 and config.log_level == "DEBUG"


def test_two_spellings_of_the_origin_are_an_error_and_pod_ip_names_self() -> None:
    with pytest.raises(ConfigError, match="CAS_SERVER_URL or CAS_SERVER_ADDR, not both"):
        Config.from_env({"CAS_SERVER_URL": "http://x:1", "CAS_SERVER_ADDR": "y:2"})
    config = Config.from_env({"CAS_SERVER_URL": "http://x:1", "POD_IP": "10.1.2.3"})
    assert config.origin_url == "http://x:1"
    assert config.member_url == "http://10.1.2.3:18002"


def test_an_ipv6_pod_ip_names_self_as_dns_members_are_named() -> None:
    config = Config.from_env({"POD_IP": "fd00::1", "CACHE_PEER_PORT": "18002"})
    assert config.member_url == "http://[fd00::1]:18002" == member_url("fd00::1", 18002)


@pytest.mark.parametrize(
    ("addr", "url"),
    [("cas:5000", "http://cas:5000"), ("http://cas:5000", "http://cas:5000"),
     ("https://cas", "https://cas")],
)  # fmt: skip
def test_cas_server_addr_may_be_a_url_too(addr: str, url: str) -> None:
    assert Config.from_env({"CAS_SERVER_ADDR": addr}).origin_url == url


def test_the_peer_listeners_connection_limit_has_a_default_an_env_and_a_flag() -> None:
    assert Config().peer_max_connections == 1024
    env = {"CACHE_PEER_MAX_CONNECTIONS": "64"}
    assert Config.from_env(env).peer_max_connections == 64
    assert parse_args(["--peer-max-connections", "8"], env).peer_max_connections == 8


def test_dns_target() -> None:
    config = Config.from_env({"CACHE_PEERS_DNS": "cacheserver-peers.cas.svc:18002"})
    assert dns_target(config) == ("cacheserver-peers.cas.svc", 18002)


@pytest.mark.parametrize(
    "env",
    [
        {"LISTEN_PORT": "http"},
        {"LISTEN_PORT": "70000"},
        {"CACHE_PEERS": "a:1"},
        {"CAS_SERVER_URL": "ftp://x"},
        {"CACHE_BYTES": "-1"},
        {"CACHE_THREADS": "0"},
        {"CACHE_FILL_THREADS": "0"},
        {"CACHE_PEER_MAX_CONNECTIONS": "0"},
        {"CACHE_PEER_TIMEOUT_S": "0"},
        {"CACHE_FETCH_TOTAL_TIMEOUT_S": "0"},
        {"CACHE_PEERS_DNS": "nameonly"},
        {"CACHE_PEERS_DNS": "peers:99999"},  # was a ring of URLs no member could reach
        {"CACHE_PEERS_DNS": "peers:0"},
        {"CACHE_PEERS_DNS": "peers:²"},
        {"CACHE_PEERS_DNS": ":18002"},
        {"LOG_LEVEL": "loud"},
    ],
)
def test_bad_values_are_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Config.from_env(env)


def test_flags_override_environment() -> None:
    base = {"LISTEN_PORT": "9000", "CACHE_THREADS": "2"}
    config = parse_args(
        ["--port", "9100", "--peers", "http://a:1,http://b:2", "--server", "gunicorn",
         "--origin", "http://o:5000", "--cache-bytes", "2048", "--fetch-total-timeout-s", "7",
         "--fill-threads", "3"],
        base,
    )  # fmt: skip
    assert config.port == 9100 and config.threads == 2
    assert config.peers == ("http://a:1", "http://b:2")
    assert config.server == "gunicorn" and config.origin_url == "http://o:5000"
    assert config.cache_bytes == 2048 and config.fetch_total_timeout_s == 7
    assert config.fill_threads == 3


def test_gunicorn_binds_ipv6_hosts_in_brackets() -> None:
    from gunicorn.util import parse_address

    assert parse_address(bind_address("::", 18001)) == ("::", 18001)
    assert parse_address(bind_address("127.0.0.1", 18001)) == ("127.0.0.1", 18001)


def test_a_member_waits_for_an_owner_longer_than_the_owner_waits_for_the_origin() -> None:
    config = Config.from_env({"CACHE_PEER_TIMEOUT_S": "2", "CACHE_ORIGIN_TIMEOUT_S": "5"})
    # The owner answers a peer request within its fill_timeout_s, a value or a 504.
    assert config.peer_wait_s == config.fill_timeout_s + 2 == 7.75
    assert config.fill_timeout_s < 5 + 1  # a miss fails within the origin timeout + 1 s
    assert config.peer_fill_timeout_s == config.peer_wait_s + config.fill_timeout_s


def test_a_statefulset_pod_names_self_by_pod_and_service_not_by_ip() -> None:
    config = Config.from_env(
        {
            "POD_NAME": "cacheserver-2",
            "POD_IP": "10.244.0.7",
            "CACHE_PEERS_DNS": "cacheserver-peers.cas.svc.cluster.local:18002",
        }
    )
    assert config.member_url == "http://cacheserver-2.cacheserver-peers:18002"
    # As the other members name it from its address's reverse lookup.
    assert config.member_url == member_url(
        stable_name(
            "10.244.0.7",
            "cacheserver-peers",
            lambda _: ("cacheserver-2.cacheserver-peers.cas.svc.cluster.local", [], []),
        ),
        18002,
    )


def test_self_url_wins_over_the_pod_name() -> None:
    env = {"POD_NAME": "m-0", "CACHE_PEERS_DNS": "peers:1", "CACHE_SELF": "http://me:1"}
    assert Config.from_env(env).member_url == "http://me:1"


def test_peer_port_and_token(tmp_path: Path) -> None:
    assert Config.from_env({"PEER_PORT": "9002"}).peer_port == 9002
    with pytest.raises(ConfigError, match="CACHE_PEER_PORT or PEER_PORT, not both"):
        Config.from_env({"PEER_PORT": "9002", "CACHE_PEER_PORT": "9003"})
    secret = tmp_path / "token"
    secret.write_text("from-a-secret\n")
    config = Config.from_env({"CACHE_PEER_TOKEN_FILE": str(secret)})
    assert config.peer_token == "from-a-secret"
    assert "from-a-secret" not in repr(config)  # never logged with the config
    both = {"CACHE_PEER_TOKEN": "direct", "CACHE_PEER_TOKEN_FILE": str(secret)}
    with pytest.raises(ConfigError, match="not both"):  # one rule for every token
        Config.from_env(both)
    with pytest.raises(ConfigError, match="CACHE_PEER_TOKEN_FILE"):
        Config.from_env({"CACHE_PEER_TOKEN_FILE": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="differ"):
        Config.from_env({"LISTEN_PORT": "9000", "CACHE_PEER_PORT": "9000"})


def test_origin_token_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert Config.from_env({}).origin_token is None
    assert Config.from_env({"CACHE_ORIGIN_TOKEN": "direct"}).origin_token == "direct"
    secret = tmp_path / "token"
    secret.write_text("origin-secret\n")
    config = Config.from_env({"CACHE_ORIGIN_TOKEN_FILE": str(secret)})
    assert config.origin_token == "origin-secret"
    assert "origin-secret" not in repr(config)  # never logged with the config
    with pytest.raises(ConfigError, match="not both"):
        Config.from_env({"CACHE_ORIGIN_TOKEN": "direct", "CACHE_ORIGIN_TOKEN_FILE": str(secret)})
    with pytest.raises(ConfigError, match="CACHE_ORIGIN_TOKEN_FILE: cannot read"):
        Config.from_env({"CACHE_ORIGIN_TOKEN_FILE": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="without spaces") as info:
        Config.from_env({"CACHE_ORIGIN_TOKEN": "two words"})
    assert "two words" not in str(info.value)


def test_the_metrics_port_is_unset_by_default_and_read_from_env_or_flag() -> None:
    assert Config.from_env({}).metrics_port is None
    base = {"CACHE_METRICS_PORT": "9101"}
    assert Config.from_env(base).metrics_port == 9101
    assert parse_args(["--metrics-port", "9201"], base).metrics_port == 9201


@pytest.mark.parametrize("port", ["0", "18001", "18002"])
def test_a_metrics_port_must_be_apart_from_the_client_and_peer_ports(port: str) -> None:
    with pytest.raises(ConfigError, match="CACHE_METRICS_PORT"):
        Config.from_env({"CACHE_METRICS_PORT": port})
