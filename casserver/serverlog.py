"""Gunicorn's own logs as JSON lines, like the app's.

Gunicorn turns its access log on whenever a logging dict is configured and builds
the log atoms for every request; ``JsonLogger`` instead logs access only when
``accesslog`` is set (``CAS_ACCESS_LOG``), with structured fields.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from cascommon.logs import dict_config


def logconfig_dict(level: str) -> dict[str, Any]:
    """Logconfig_dict is gunicorn's ``logconfig_dict``: every logger writes JSON to stdout.

    Gunicorn merges it over its defaults key by key, so its own loggers are named
    here or they would keep handlers that this dict does not define.
    """
    config = dict_config(level)
    config["loggers"] = {
        name: {"level": level, "handlers": ["stdout"], "propagate": False, "qualname": name}
        for name in ("gunicorn.error", "gunicorn.access")
    }
    return config


class JsonLogger(Logger):  # type: ignore[misc]
    """JsonLogger is gunicorn's logger with an opt-in, structured access log."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Access logs one request as JSON fields, only when an access log is configured."""
        if self.cfg.accesslog is None:
            return
        self.access_log.info(
            "request",
            extra={
                "method": req.method,
                "path": req.path,
                "status": resp.status_code,
                "bytes": getattr(resp, "sent", None),
                "duration_s": request_time.total_seconds(),
                "remote": environ.get("REMOTE_ADDR"),
            },
        )
