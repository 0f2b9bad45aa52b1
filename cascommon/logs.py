"""JSON-lines logging on stdout, shared by the apps and their servers."""

from __future__ import annotations

import logging.config
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """Dict_config returns a logging.config dictionary that writes JSON lines to stdout.

    Gunicorn (``logconfig_dict``) and granian (``log_dictconfig``) take it too, so the
    servers' own access and error logs come out in the same JSON as the app's.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": FORMAT,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stdout"]},
    }


def configure(level: str = "INFO") -> None:
    """Configure installs JSON-lines logging on the root logger."""
    logging.config.dictConfig(dict_config(level))


def server_dict_config(level: str) -> dict[str, Any]:
    """Server_dict_config is dict_config plus granian's and gunicorn's own loggers."""
    config = dict_config(level)
    server = {"handlers": ["stdout"], "level": level, "propagate": False}
    # No access log line per request: on the hot path it would cost more than the answer.
    access = {"handlers": ["stdout"], "level": "WARNING", "propagate": False}
    config["loggers"] = {
        "_granian": server,
        "granian.access": access,
        "gunicorn.error": server,
        "gunicorn.access": access,
    }
    return config
