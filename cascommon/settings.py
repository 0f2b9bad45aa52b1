"""One declaration per setting, from which each program's loader, ``--help`` and docs are made.

A program lists its settings once (``<program>/settings.py``) as ``Setting`` values: the
Config field, the environment names (the name first, older spellings after), the flag, the
kind (``cascommon.kinds``), bounds, whether it is a secret, and help. ``Settings.load`` is
the only code that reads the environment; flags override it without passing through it.

The rule for every source, in every program:
- an empty variable is unset (so ``${CAS_READ_TOKEN:-}`` in compose leaves reads open);
- two spellings of one setting both set, or a secret and its ``_FILE`` both set, is an error;
- a secret's file must hold a token: an empty or blank file is an error, never "off".
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from cascommon.kinds import Kind

FILE_SUFFIX: Final = "_FILE"
# Upper bounds of process and thread counts: far above any machine's need, and below
# what granian or the OS cannot take (a huge count overflowed in granian, or spun a
# worker that no longer stopped on SIGTERM).
MAX_PROCESSES: Final = 512
MAX_THREADS: Final = 4096
T = TypeVar("T")


# The exit status of every program for a bad configuration or usage.
EXIT_CONFIG: Final = 2


class ConfigError(ValueError):
    """A setting that cannot be used; the programs print it on one line and exit 2 (EXIT_CONFIG)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: where it is read from, its kind and bounds, and what it is for."""

    field: str  # the Config field; "a.b" is field b of the dataclass in field a
    env: tuple[str, ...]  # the variable, then older spellings; () for a flag only
    flag: str | None
    kind: Kind
    help: str
    low: float | None = None
    high: float | None = None
    secret: bool = False  # a token: also read from <env>_FILE (<flag>-file); never shown
    unset: str = "unset"  # what a default of None means, for --help and the docs
    opens: str | None = None  # a secret only: what is open to anyone while it is unset
    group: str | None = None  # the --help section its flag is listed in

    @property
    def label(self) -> str:
        """Return the name an operator knows the setting by: its variable, else its flag."""
        return self.env[0] if self.env else str(self.flag)

    def bounds(self) -> str:
        """Return the allowed range as text, or "" when there is none."""
        if self.low is None and self.high is None:
            return ""
        show = self.kind.show
        if self.high is None:
            return f">= {show(_num(self.low))}"
        if self.low is None:
            return f"<= {show(_num(self.high))}"
        return f"{show(_num(self.low))}-{show(_num(self.high))}"


def _num(x: float | None) -> float | int:
    return int(x) if x is not None and float(x).is_integer() else float(x or 0)


@dataclass(frozen=True, slots=True)
class Settings:
    """A program's settings, in the order its --help and docs list them."""

    program: str
    items: tuple[Setting, ...]

    def load(
        self, cls: type[T], environ: Mapping[str, str], args: argparse.Namespace | None = None
    ) -> T:
        """Return cls built from environ, overridden by the flags args holds (from add_flags)."""
        flags = {} if args is None else {k: v for k, v in vars(args).items() if v is not None}
        values: dict[str, Any] = {}
        for s in self.items:
            raw = _flag_value(s, flags) or _env_value(s, environ)
            if raw is not None:
                source, text = raw
                values[s.field] = _parse(s, source, text)
        return _build(cls, values)

    def check(self, config: object) -> None:
        """Raise ConfigError for a value outside its setting's bounds."""
        for s in self.items:
            value = _get(config, s.field)
            if isinstance(value, str) and (s.secret or s.kind.choices):
                _parse(s, s.label, value)  # a Config built in code, not from text
            if value is None or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if (s.low is not None and value < s.low) or (s.high is not None and value > s.high):
                raise ConfigError(f"{s.label} must be {s.bounds()}, got {s.kind.show(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{s.label} must be a finite number, got {value}")

    def add_flags(self, parser: argparse.ArgumentParser, defaults: object) -> None:
        """Add a flag for each setting that has one, its help naming its variables and default."""
        groups: dict[str | None, Any] = {None: parser}
        for s in self.items:
            if s.flag is None:
                continue
            if s.group not in groups:
                groups[s.group] = parser.add_argument_group(s.group)
            add = groups[s.group].add_argument
            where = f"env {', '.join(s.env)}; " if s.env else ""
            text = f"{s.help} ({where}default {show_default(s, defaults)})"
            kind = {"action": "store_const", "const": "1"} if s.kind.name == "boolean" else {}
            kind = kind or {"metavar": s.kind.metavar}
            add(s.flag, dest=s.field, help=text.replace("%", "%%"), **kind)
            if s.secret:
                add(
                    f"{s.flag}-file", dest=s.field + FILE_SUFFIX, metavar="PATH",
                    help=f"read {s.flag} from this file, e.g. a mounted Secret",
                )  # fmt: skip

    def open_to_anyone(self, config: object) -> list[str]:
        """Return what each unset secret leaves open, e.g. "writes: CAS_WRITE_TOKEN unset"."""
        return [
            f"{s.opens}: {s.label} unset"
            for s in self.items
            if s.opens and _get(config, s.field) is None
        ]

    def log_open(self, log: logging.Logger, config: object) -> None:
        """Log, in one line, what the configuration leaves open to anyone (nothing if none)."""
        if open_ := self.open_to_anyone(config):
            log.warning("open to anyone: " + "; ".join(open_), extra={"open": open_})


def show_default(s: Setting, defaults: object) -> str:
    """Return a setting's default as an operator would write it."""
    value = _get(defaults, s.field)
    if value is None:
        return s.unset
    if s.secret:
        return "set"
    return s.kind.show(value) or "empty"


def read_token_file(label: str, path: str | Path) -> str:
    """Return the token in file path (variable or flag label), without the newline `echo` adds.

    The one reader of token files: an unreadable, empty or blank file is an error.
    """
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"{label}: cannot read {path}: {reason}") from None
    if not token:
        raise ConfigError(f"{label}: {path} is empty; unset {label} to leave the token off")
    return token


def _flag_value(s: Setting, flags: Mapping[str, Any]) -> tuple[str, str] | None:
    value, path = flags.get(s.field), flags.get(s.field + FILE_SUFFIX) if s.secret else None
    if value is not None and path is not None:
        raise ConfigError(f"give {s.flag} or {s.flag}-file, not both")
    if path is not None:
        return f"{s.flag}-file", read_token_file(f"{s.flag}-file", path)
    return None if value is None else (str(s.flag), str(value))


def _env_value(s: Setting, environ: Mapping[str, str]) -> tuple[str, str] | None:
    names = [n for env in s.env for n in ((env, env + FILE_SUFFIX) if s.secret else (env,))]
    set_ = [n for n in names if environ.get(n, "").strip()]
    if len(set_) > 1:
        raise ConfigError(f"set one of {' or '.join(set_)}, not both")
    if not set_:
        return None
    name = set_[0]
    if name.endswith(FILE_SUFFIX) and s.secret:
        return name, read_token_file(name, environ[name].strip())
    return name, environ[name].strip()


def _parse(s: Setting, source: str, text: str) -> Any:
    try:
        return s.kind.parse(text)
    except ValueError:
        got = "" if s.secret else f", got {text!r}"  # a token never appears in a message
        raise ConfigError(f"{source} must be {s.kind.expect}{got}") from None


def _get(obj: object, field: str) -> Any:
    for part in field.split(",")[0].split("."):
        obj = getattr(obj, part)
    return obj


def _build(cls: type[T], values: Mapping[str, Any]) -> T:
    """Return cls(**values), each "a.b" value replacing field b of field a's default."""
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        outer, _, inner = key.partition(".")
        if inner:
            nested.setdefault(outer, {})[inner] = value
        elif "," in key:  # one text read into several fields, e.g. "shard,shards" from "1/3"
            flat.update(zip(key.split(","), value, strict=True))
        else:
            flat[key] = value
    defaults = {f.name: f for f in dataclasses.fields(cls)} if nested else {}  # type: ignore[arg-type]
    for outer, inner_values in nested.items():
        factory = defaults[outer].default_factory
        flat[outer] = dataclasses.replace(factory(), **inner_values)  # type: ignore[operator]
    return cls(**flat)


def env_names(settings: Iterable[Setting]) -> frozenset[str]:
    """Return every variable the settings read, _FILE spellings of secrets included."""
    return frozenset(
        n for s in settings for env in s.env for n in (env, env + FILE_SUFFIX)[: 1 + s.secret]
    )
