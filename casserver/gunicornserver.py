"""Run casserver under gunicorn (gthread workers), every setting derived from its Config."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from cascommon import gunicornapp
from casserver import lifecycle
from casserver.config import Config
from casserver.serverlog import logconfig_dict
from casserver.settings import SETTINGS

log = logging.getLogger(__name__)


def settings(config: Config) -> dict[str, Any]:
    """Return gunicorn's settings for config (the hooks that start and stop it apart)."""
    return {
        "bind": [gunicornapp.bind_address(config.host, config.port)],
        "worker_class": "gthread",
        "workers": config.workers,
        "threads": config.threads,
        "sendfile": True,  # GET bodies go from the page cache to the socket without a copy
        # Long uploads run in worker threads; the worker's heartbeat is its main loop.
        "timeout": 30,
        "graceful_timeout": 30,
        # Longer than the proxies in front of it keep idle upstream connections
        # (ingress-nginx and nginx: 60 s), so the server never closes one a proxy is about
        # to reuse, which surfaces as sporadic 502s and un-retried PUTs. gthread parks idle
        # connections in its poller, so they hold no thread.
        "keepalive": max(1, round(config.keepalive_s)),
        "loglevel": config.log_level.lower(),
        "logconfig_dict": logconfig_dict(config.log_level),
        "logger_class": "casserver.serverlog.JsonLogger",
        "accesslog": "-" if config.access_log else None,
        "child_exit": lifecycle.child_exit,
    }


def serve(config: Config) -> None:
    """Run gunicorn until it stops; the main process prepares metrics and storage first."""
    started: list[lifecycle.MetricsDir] = []

    def on_starting(server: Any) -> None:
        SETTINGS.log_open(log, config)
        prepared, metrics_dir = lifecycle.start(config)
        started.append(metrics_dir)
        ready.append(prepared)

    def on_exit(server: Any) -> None:
        for metrics_dir in started:
            metrics_dir.release()

    ready: list[Config] = []
    hooks = {"on_starting": on_starting, "on_exit": on_exit}
    gunicornapp.run(settings(config) | hooks, partial(_load, ready))


def _load(ready: list[Config]) -> Any:
    """Return the app a forked worker serves, with the config the main process prepared."""
    from casserver.app import create_app  # imports prometheus_client: after the metrics dir

    return create_app(ready[0])
