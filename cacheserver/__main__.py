"""Command line: `cacheserver [flags]` runs one ring member under granian (or gunicorn)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Final

from cacheserver import granianhits, malloc
from cacheserver.config import Config, ConfigError
from cacheserver.settings import SETTINGS
from cascommon import granianrun, gunicornapp, logs, stopsignals
from cascommon.ports import check_free
from cascommon.settings import EXIT_CONFIG

log = logging.getLogger(__name__)
BACKLOG: Final = 4096
MAX_CONNECTIONS: Final = 16384


def parser() -> argparse.ArgumentParser:
    """Return the command line's parser; each flag's help names its variables and default."""
    p = argparse.ArgumentParser(prog="cacheserver", description=__doc__)
    SETTINGS.add_flags(p, Config())
    return p


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Config:
    """Return the Config of environ overridden by the flags in argv."""
    return Config.from_env(environ, parser().parse_args(argv))


def load_app(config: Config) -> Callable[..., Any]:
    """Load_app builds the app and starts the peer listener in the serving process."""
    from cacheserver.app import serve_app

    malloc.tune()  # in the serving process too: granian spawns it afresh
    logs.configure(config.log_level)
    SETTINGS.log_open(log, config)
    app = serve_app(config)
    if config.server == "granian":
        granianhits.install(app)  # granian wraps the app after this loader returns
    return app


def serve_granian(config: Config) -> None:
    """Run one granian WSGI worker with config.threads blocking threads."""
    granianrun.serve(
        "cacheserver.__main__:load_app",
        load_app,
        config,
        interface="wsgi",
        workers=1,
        # One timer in granian for both the headers of a request and the idle wait
        # before the next one, in granian's range.
        header_timeout_s=min(config.idle_timeout_s, granianrun.HEADER_TIMEOUT_RANGE_S[1]),
        # granian takes a connection only under its backpressure (default: backlog 1024),
        # and an idle one holds it until its timeout: 2,000 idle connections left new
        # clients in the accept queue. Idle connections cost granian little (no thread).
        max_connections=MAX_CONNECTIONS,
        blocking_threads=config.threads,
        backlog=BACKLOG,
    )


def serve_gunicorn(config: Config) -> None:
    """Run one gunicorn gthread worker: a ring member is one process."""
    settings = {
        "bind": gunicornapp.bind_address(config.host, config.port),
        "workers": 1,
        "worker_class": "gthread",
        "threads": config.threads,
        "keepalive": int(config.idle_timeout_s),
        "logconfig_dict": logs.server_dict_config(config.log_level),
        "accesslog": None,
    }
    gunicornapp.run(settings, partial(load_app, config))


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stopped; a bad configuration is one line on stderr and exit 2."""
    malloc.tune()  # before any thread: each takes its arena on its first malloc
    try:
        config = parse_args(argv, os.environ)
        ports = {"LISTEN_PORT": config.port, "CACHE_PEER_PORT": config.peer_port}
        check_free(config.host, ports | {"CACHE_METRICS_PORT": config.metrics_port})
    except ConfigError as exc:
        print(f"cacheserver: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stopsignals.default_after_fork()
    if config.server == "gunicorn":
        serve_gunicorn(config)
    else:
        serve_granian(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
