"""Gunicorn settings for casserver, all derived from the casserver Config.

``casserver`` (``__main__``) runs gunicorn with this file after writing its flags into
the environment; ``gunicorn -c casserver/gunicorn.conf.py`` does the same without flags.
"""

import os

from casserver import lifecycle
from casserver.config import Config
from casserver.serverlog import logconfig_dict as _logconfig_dict

_config = Config.from_env(os.environ)
_host = f"[{_config.host}]" if ":" in _config.host else _config.host

wsgi_app = "casserver.app:get_app()"
bind = [f"{_host}:{_config.port}"]
worker_class = "gthread"
workers = _config.workers
threads = _config.threads
sendfile = True  # GET bodies go from the page cache to the socket without a copy
# Long uploads run in worker threads; the worker's heartbeat is its main loop.
timeout = 30
graceful_timeout = 30
# Longer than the proxies in front of it keep idle upstream connections (ingress-nginx
# and nginx: 60 s), so the server never closes one a proxy is about to reuse, which
# surfaces as sporadic 502s and un-retried PUTs. gthread parks idle connections in
# its poller, so they hold no thread.
keepalive = max(1, round(_config.keepalive_s))
# Gunicorn's control socket is one per-user path shared by every server on the host.
control_socket_disable = True

loglevel = _config.log_level.lower()
logconfig_dict = _logconfig_dict(_config.log_level)
logger_class = "casserver.serverlog.JsonLogger"
accesslog = "-" if _config.access_log else None

on_starting = lifecycle.on_starting
child_exit = lifecycle.child_exit
on_exit = lifecycle.on_exit
