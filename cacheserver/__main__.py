"""Command line: `cacheserver [flags]` runs one ring member under granian (or gunicorn)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

from cacheserver import granianhits, malloc
from cacheserver.config import ENV, SERVERS, Config, ConfigError
from cascommon import logs

# The fault-isolation settings' flags, generated from their environment names.
ISOLATION_FLAGS: Final = {
    env: ENV[env]
    for env in (
        "CACHE_CONNECT_TIMEOUT_S", "CACHE_ORIGIN_FIRST_BYTE_S", "CACHE_PEER_FIRST_BYTE_S",
        "CACHE_PEER_BULKHEAD", "CACHE_ORIGIN_BULKHEAD", "CACHE_FORWARD_WRITES",
        "CACHE_FORWARD_READS", "CACHE_HEDGE_MAX_DELAY_S", "CACHE_HEDGE_BUDGET",
        "CACHE_HEDGE_MIN_PER_S", "CACHE_PROBE_INTERVAL_S", "CACHE_PEER_SLOW_S",
    )
}  # fmt: skip
BACKLOG: Final = 4096
MAX_CONNECTIONS: Final = 16384


def parse_args(argv: Sequence[str] | None, base: Config) -> Config:
    """Parse_args overrides the environment's config with command-line flags."""
    p = argparse.ArgumentParser(prog="cacheserver", description=__doc__)
    p.add_argument("--host", help=f"listen address (CACHE_HOST, {base.host})")
    p.add_argument("--port", type=int, help=f"client port (LISTEN_PORT, {base.port})")
    p.add_argument(
        "--peer-port",
        type=int,
        help=f"peer listener port, /_groupcache/ only (CACHE_PEER_PORT or PEER_PORT, "
        f"{base.peer_port})",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port only, not on --port (CACHE_METRICS_PORT, "
        "default unset: /metrics on --port)",
    )
    p.add_argument(
        "--origin", dest="origin_url", help="casserver base URL (CAS_SERVER_URL or CAS_SERVER_ADDR)"
    )
    p.add_argument("--peers", help="comma-separated members' peer base URLs (CACHE_PEERS)")
    p.add_argument("--self", dest="self_url", help="this member's peer base URL (CACHE_SELF)")
    p.add_argument("--peers-dns", help="name:peer-port of a headless Service (CACHE_PEERS_DNS)")
    p.add_argument(
        "--cache-bytes", type=int, help=f"cache budget (CACHE_BYTES, {base.cache_bytes})"
    )
    p.add_argument("--max-item-bytes", type=int, help="largest cached value (CACHE_MAX_ITEM_BYTES)")
    p.add_argument("--threads", type=int, help=f"request threads (CACHE_THREADS, {base.threads})")
    p.add_argument(
        "--fill-threads",
        type=int,
        help=f"threads loading from the origin, and as many from peers "
        f"(CACHE_FILL_THREADS, {base.fill_threads})",
    )
    p.add_argument(
        "--miss-waiters",
        type=int,
        help=f"distinct keys client requests may wait on at once; more get 503 "
        f"(CACHE_MISS_WAITERS, {base.miss_limit})",
    )
    p.add_argument(
        "--peer-waiters",
        type=int,
        help=f"peer requests that may wait at once (CACHE_PEER_WAITERS, {base.peer_waiters})",
    )
    p.add_argument(
        "--header-timeout-s",
        type=float,
        help=f"longest wait for a request's headers (CACHE_HEADER_TIMEOUT_S, "
        f"{base.header_timeout_s:g})",
    )
    p.add_argument(
        "--idle-timeout-s",
        type=float,
        help=f"idle keep-alive connections closed after (CACHE_IDLE_TIMEOUT_S, "
        f"{base.idle_timeout_s:g})",
    )
    p.add_argument(
        "--max-blob-bytes",
        type=int,
        help=f"largest upstream body (CACHE_MAX_BLOB_BYTES, {base.max_blob_bytes})",
    )
    p.add_argument("--peer-timeout-s", type=float, help="CACHE_PEER_TIMEOUT_S")
    p.add_argument("--origin-timeout-s", type=float, help="CACHE_ORIGIN_TIMEOUT_S")
    p.add_argument(
        "--fetch-total-timeout-s",
        type=float,
        help=f"longest whole origin or peer fetch (CACHE_FETCH_TOTAL_TIMEOUT_S, "
        f"{base.fetch_total_timeout_s:g})",
    )
    p.add_argument(
        "--peer-backoff-s",
        dest="peer_max_backoff_s",
        type=float,
        help="longest backoff from a failing peer (CACHE_PEER_BACKOFF_S)",
    )
    p.add_argument("--negative-ttl-s", type=float, help="404 cache time (CACHE_NEGATIVE_TTL_S)")
    # Fault isolation (docs/faults.md): each flag is its field's name, as --kebab-case.
    for env, (field, convert) in ISOLATION_FLAGS.items():
        default = getattr(base, field)
        p.add_argument(
            "--" + field.replace("_", "-"), type=convert,
            help=f"{env}, {'derived' if default is None else default}",
        )  # fmt: skip
    p.add_argument("--log-level", type=str.upper, help=f"LOG_LEVEL, {base.log_level}")
    p.add_argument("--server", choices=SERVERS, help=f"WSGI server (CACHE_SERVER, {base.server})")
    args = {k: v for k, v in vars(p.parse_args(argv)).items() if v is not None}
    if "peers" in args:
        args["peers"] = tuple(u.strip() for u in args["peers"].split(",") if u.strip())
    return dataclasses.replace(base, **args)


def load_app(config: Config) -> Callable[..., Any]:
    """Load_app builds the app and starts the peer listener in the serving process."""
    from cacheserver.app import serve_app

    malloc.tune()  # in the serving process too: granian spawns it afresh
    logs.configure(config.log_level)
    app = serve_app(config)
    if config.server == "granian":
        granianhits.install(app)  # granian wraps the app after this loader returns
    return app


# The JSON logging dict, with the servers' own loggers routed into it.
log_config = logs.server_dict_config


def serve_granian(config: Config) -> None:
    """Serve_granian runs one granian WSGI worker with config.threads blocking threads."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    server = Granian(
        "cacheserver.app:get_app",
        address=config.host,
        port=config.port,
        interface=Interfaces.WSGI,
        # HTTP/1 only: in auto mode granian's first read (to tell h1 from h2) has no
        # timeout, so a connection that never sends a byte was never closed.
        http=HTTPModes.http1,
        # One timer in granian for both the headers of a request and the idle wait
        # before the next one.
        http1_settings=HTTP1Settings(header_read_timeout=int(config.idle_timeout_s * 1000)),
        workers=1,
        blocking_threads=config.threads,
        # granian takes a connection only under its backpressure (default: backlog 1024),
        # and an idle one holds it until its timeout: 2,000 idle connections left new
        # clients in the accept queue. Idle connections cost granian little (no thread).
        backlog=BACKLOG,
        backpressure=MAX_CONNECTIONS,
        websockets=False,
        log_dictconfig=log_config(config.log_level),
        log_level=LogLevels(config.log_level.lower()),
    )
    server.serve(target_loader=partial(load_app, config), wrap_loader=False)


def bind_address(host: str, port: int) -> str:
    """Bind_address is gunicorn's host:port, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_gunicorn(config: Config) -> None:
    """Serve_gunicorn runs one gunicorn gthread worker: a ring member is one process."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": bind_address(config.host, config.port),
                "workers": 1,
                "worker_class": "gthread",
                "threads": config.threads,
                "keepalive": int(config.idle_timeout_s),
                "logconfig_dict": log_config(config.log_level),
                "accesslog": None,
                # One per-user path shared by every gunicorn on the host: not ours to take.
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return load_app(config)

    _Gunicorn().run()


def main(argv: Sequence[str] | None = None) -> int:
    """Main parses the environment and flags and serves until stopped."""
    malloc.tune()  # before any thread: each takes its arena on its first malloc
    try:
        config = parse_args(argv, Config.from_env(os.environ))
    except (ConfigError, TypeError, ValueError) as ex:
        print(f"cacheserver: {ex}", file=sys.stderr)
        return 2
    if config.server == "gunicorn":
        serve_gunicorn(config)
    else:
        serve_granian(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
