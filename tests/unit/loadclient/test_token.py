"""The write token: from the flag, a file or the environment, and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadclient.cli import build_config
from loadclient.config import Config, ConfigError
from loadclient.flags import parser

TOKEN = "s3cret-write-token"
BASE = ["--cas", "http://cas:5000", "--cache", "http://cache:18001"]


def config(argv: list[str], env: dict[str, str] | None = None) -> Config:
    return build_config(parser().parse_args(["run", *BASE, *argv]), env or {})


def test_no_token_by_default() -> None:
    assert config([]).token is None


def test_token_from_env_flag_or_file_the_flags_winning(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")  # as `echo` writes a Secret
    assert config([], {"CAS_WRITE_TOKEN": TOKEN}).token == TOKEN
    assert config([], {"CAS_WRITE_TOKEN_FILE": str(secret)}).token == TOKEN
    assert config(["--token-file", str(secret)], {"CAS_WRITE_TOKEN": "other"}).token == TOKEN
    assert config(["--token", "flag-token"], {"CAS_WRITE_TOKEN": TOKEN}).token == "flag-token"


def test_token_is_never_in_repr_or_the_reports_summary() -> None:
    from loadclient.prepare import config_summary as _config_summary

    c = config(["--token", TOKEN])
    assert TOKEN not in repr(c)
    assert TOKEN not in repr(_config_summary(c))


def test_token_is_not_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--help"])
    out = capsys.readouterr().out
    assert "--token" in out and "--token-file" in out and "CAS_WRITE_TOKEN" in out


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {"CAS_WRITE_TOKEN": TOKEN, "CAS_WRITE_TOKEN_FILE": "/x"}, "not both"),
        ([], {"CAS_WRITE_TOKEN_FILE": "/nonexistent/token"}, "cannot read"),
        (["--token", f"{TOKEN} x"], {}, "printable ASCII without spaces"),
        (["--token", ""], {}, "printable ASCII without spaces"),
        ([], {"CAS_WRITE_TOKEN": f"{TOKEN}\x01"}, "printable ASCII without spaces"),
    ],
)
def test_unusable_tokens_are_refused_without_showing_them(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        config(argv, env)
    assert TOKEN not in str(info.value)


def test_token_flag_and_file_exclude_each_other() -> None:
    with pytest.raises(ConfigError, match="--token or --token-file, not both"):
        config(["--token", TOKEN, "--token-file", "/x"])
