"""The one configuration pattern: sources, the token rule, kinds, bounds, --help and docs."""

from __future__ import annotations

import argparse
import importlib
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from cascommon import configdocs
from cascommon.kinds import BYTES, INT, TOKEN, parse_bytes, show_bytes, split_host_port
from cascommon.ports import check_free
from cascommon.settings import ConfigError, Setting, Settings, read_token_file

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = configdocs.PROGRAMS


@pytest.mark.parametrize(
    ("text", "value"),
    [("67108864", 1 << 26), ("64MiB", 1 << 26), ("64m", 1 << 26), ("64MB", 64_000_000),
     ("1GiB", 1 << 30), ("4 KiB", 4096), ("0", 0)],
)  # fmt: skip
def test_byte_sizes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["abc", "-1", "1.5MiB", "64 TiB", ""])
def test_bad_byte_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_host_port_is_split_once_for_every_program() -> None:
    assert split_host_port("peers.cas.svc:18002") == ("peers.cas.svc", 18002)
    assert split_host_port("[::1]:9100") == ("::1", 9100)
    assert split_host_port(":0") == ("", 0)
    for bad in ("name", "name:", "name:99999", "name:-1", "name:²", "name:x", "a:1:b"):
        with pytest.raises(ValueError):
            split_host_port(bad)
    with pytest.raises(ValueError):
        split_host_port("name:0", min_port=1)


def test_byte_sizes_show_in_their_largest_unit() -> None:
    assert [show_bytes(v) for v in (1 << 26, 256 << 10, 1000, 0)] == [
        "64MiB",
        "256KiB",
        "1000",
        "0",
    ]


@pytest.fixture
def spec() -> Settings:
    return Settings("demo", (
        Setting("size", ("DEMO_BYTES",), "--bytes", BYTES, "Size.", low=1),
        Setting("port", ("DEMO_PORT", "OLD_PORT"), "--port", INT, "Port.", low=1, high=65535),
        Setting("token", ("DEMO_TOKEN",), "--token", TOKEN, "Token.", secret=True, opens="all"),
    ))  # fmt: skip


@dataclass(frozen=True)
class Demo:
    size: int = 1
    port: int = 80
    token: str | None = None


def flags(spec: Settings, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    spec.add_flags(p, Demo())
    return p.parse_args(argv)


def test_flags_override_the_environment_and_aliases_are_read(spec: Settings) -> None:
    demo = spec.load(Demo, {"DEMO_BYTES": "2KiB", "OLD_PORT": "81"}, flags(spec, "--port", "82"))
    assert (demo.size, demo.port) == (2048, 82)
    assert spec.load(Demo, {"OLD_PORT": "81"}).port == 81


def test_errors_name_the_source_and_say_what_is_expected(spec: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        spec.load(Demo, {"DEMO_BYTES": "abc"})
    assert str(info.value) == "DEMO_BYTES must be a byte size like 64MiB or 67108864, got 'abc'"
    with pytest.raises(ConfigError, match="--port must be an integer, got 'x'"):
        spec.load(Demo, {}, flags(spec, "--port", "x"))
    with pytest.raises(ConfigError, match="DEMO_PORT must be 1-65535, got 0"):
        spec.check(spec.load(Demo, {"DEMO_PORT": "0"}))


def test_two_spellings_of_one_setting_are_an_error(spec: Settings) -> None:
    with pytest.raises(ConfigError, match="DEMO_PORT or OLD_PORT, not both"):
        spec.load(Demo, {"DEMO_PORT": "1", "OLD_PORT": "1"})


def test_one_token_rule(spec: Settings, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    blank = tmp_path / "blank"
    blank.write_text("  \n")
    assert spec.load(Demo, {"DEMO_TOKEN_FILE": str(token)}).token == "s3cret"
    assert spec.load(Demo, {"DEMO_TOKEN": ""}).token is None  # empty variable: off
    assert spec.load(Demo, {"DEMO_TOKEN": "", "DEMO_TOKEN_FILE": str(token)}).token == "s3cret"
    with pytest.raises(ConfigError, match="DEMO_TOKEN or DEMO_TOKEN_FILE, not both"):
        spec.load(Demo, {"DEMO_TOKEN": "x", "DEMO_TOKEN_FILE": str(token)})
    with pytest.raises(ConfigError, match="DEMO_TOKEN_FILE: .* is empty"):
        spec.load(Demo, {"DEMO_TOKEN_FILE": str(blank)})
    with pytest.raises(ConfigError, match="--token-file: .* is empty"):
        spec.load(Demo, {}, flags(spec, "--token-file", str(blank)))
    with pytest.raises(ConfigError, match="--token or --token-file, not both"):
        spec.load(Demo, {}, flags(spec, "--token", "a", "--token-file", str(token)))
    with pytest.raises(ConfigError) as info:
        spec.load(Demo, {"DEMO_TOKEN": "two words"})
    assert "two words" not in str(info.value)
    assert spec.open_to_anyone(Demo()) == ["all: DEMO_TOKEN unset"]
    assert spec.open_to_anyone(Demo(token="t")) == []


def test_the_token_file_reader_names_what_it_could_not_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="X_FILE: cannot read .*absent"):
        read_token_file("X_FILE", tmp_path / "absent")


@pytest.mark.parametrize("program", PROGRAMS)
def test_help_shows_every_flags_default(program: str) -> None:
    config = importlib.import_module(f"{program}.config")
    p = argparse.ArgumentParser()
    config.SETTINGS.add_flags(p, config.Config())
    documented = [a for a in p._actions if a.option_strings and a.dest != "help"]
    assert documented
    for action in documented:
        if not action.dest.endswith("_FILE"):
            assert "default " in str(action.help), action.option_strings


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_setting_has_help_and_a_name(program: str) -> None:
    for s in importlib.import_module(f"{program}.config").SETTINGS.items:
        assert s.help.endswith((".", ")")) and (s.env or s.flag), s


def test_docs_configuration_is_current() -> None:
    # Stale: run scripts/config-docs and commit docs/configuration.md.
    assert (ROOT / "docs" / "configuration.md").read_text() == configdocs.reference()


def test_a_busy_port_is_named() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        with pytest.raises(ConfigError, match=f"PORT_NAME: cannot listen on 127.0.0.1 port {busy}"):
            check_free("127.0.0.1", {"OTHER": None, "PORT_NAME": busy})
    check_free("127.0.0.1", {"PORT_NAME": busy})  # free again once closed


# Flags scripts, manifests and users pass today: interfaces, kept exactly.
FLAGS = {
    "casserver": "--host --port --metrics-port --storage --workers --threads --server "
    "--memory-cache-bytes --memory-cache-item-bytes --task-impl",
    "cacheserver": "--host --port --peer-port --metrics-port --origin --peers --self --peers-dns "
    "--cache-bytes --max-item-bytes --threads --fill-threads --miss-waiters --peer-waiters "
    "--header-timeout-s --idle-timeout-s --max-blob-bytes --peer-timeout-s --origin-timeout-s "
    "--fetch-total-timeout-s --peer-backoff-s --negative-ttl-s --log-level --server",
    "loadclient": "--cas --cache --token --token-file --size --file --rate --duration "
    "--hit-ratio --timeout --connections --max-connections --workers --timer --skip-upload "
    "--seed --output --html --histogram-buckets --quiet --keys --distribution --shard "
    "--start-at --max-error-rate --max-mean --max-p50 --max-p90 --max-p95 --max-p99 "
    "--max-p999 --max-latency --min-throughput --max-send-lag --min-rate-ratio",
}


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_flags_are_kept(program: str) -> None:
    config = importlib.import_module(f"{program}.config")
    p = argparse.ArgumentParser()
    config.SETTINGS.add_flags(p, config.Config())
    assert set(FLAGS[program].split()) <= set(p._option_string_actions)
