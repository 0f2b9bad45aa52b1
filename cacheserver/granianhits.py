"""Hits answered from granian's own WSGI callback, before granian builds a WSGI environ.

granian calls a WSGI worker's Python side as callback(proto, scope). Its wrapper then copies
os.environ into a new environ dict, makes a start_response object and joins the body: about
5 µs a request on the bench machine, as much as a whole 25 KB hit costs in Python, and it
runs before the hit path can answer. Measured on one core: a bare app answering 25 KB from
memory did 33-34k req/s through granian's wrapper and 39k answering from the callback.

So in the serving process we give granian a callback that answers hits from proto directly
and hands every other request to granian's own wrapper, unchanged. granian has no public
hook for this: the name replaced (its WSGI worker spawner's `_wsgi_call_wrap`) is private,
so when it is missing (another granian) nothing is replaced and hits take the WSGI path,
as correct and only slower. install checks the name and its parameters and warns when
they differ; CallbackHits in /stats counts the hits the hook answered, and
tests/integration/cacheserver/test_granian_hook.py asserts it grows in a real worker.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from cacheserver.hitpath import HitPath

log = logging.getLogger(__name__)

# granian's servers (multiprocess, and multithread for free-threaded Pythons) each look the
# wrapper up by this module-level name when they spawn a WSGI worker.
SERVER_MODULES = ("granian.server.mp", "granian.server.mt")
WRAPPER_NAME = "_wsgi_call_wrap"
SIGNATURE = ("callback", "scope_opts", "access_log_fmt")  # what hits_first passes on, in order

Runner = Callable[[Any, dict[str, Any]], int]


def runner(hits: HitPath, slow: Runner) -> Runner:
    """Runner is a granian WSGI callback: hits answered from proto, the rest by slow."""
    answer, count = hits.answer, hits.count

    def run(proto: Any, scope: dict[str, Any]) -> int:
        found = answer(scope)
        if found is None:
            return slow(proto, scope)
        proto.response_bytes(200, found[0], found[1])
        count("CallbackHits")
        return 200

    return run


def _fits(wrap: Any) -> bool:
    """Say whether wrap is granian's wrapper as this module knows it (name and parameters)."""
    wrap = getattr(wrap, "granian_wrap", wrap)
    if not callable(wrap):
        return False
    try:
        names = tuple(inspect.signature(wrap).parameters)
    except (TypeError, ValueError):
        return False
    return names[: len(SIGNATURE)] == SIGNATURE


def install(hits: HitPath) -> bool:
    """Install makes granian's WSGI workers spawned from now on answer hits first.

    Call it in the serving process before granian wraps the app (from the target loader).
    It reports whether granian's wrapper was found and replaced.
    """
    modules = [m for name in SERVER_MODULES if (m := _module(name)) is not None]
    targets = [m for m in modules if _fits(getattr(m, WRAPPER_NAME, None))]
    if not targets:
        log.warning("granian has no %s%s: hits take the WSGI path", WRAPPER_NAME, SIGNATURE)
        return False
    for module in targets:
        # A second install (another app in this process) wraps granian's own wrapper again.
        wrap = getattr(module, WRAPPER_NAME)
        granian_wrap = getattr(wrap, "granian_wrap", wrap)

        def hits_first(
            callback: Any, scope_opts: dict[str, Any], access_log_fmt: str | None = None,
            _wrap: Callable[..., Runner] = granian_wrap,
        ) -> Runner:  # fmt: skip
            slow = _wrap(callback, scope_opts, access_log_fmt)
            if callback is not hits or access_log_fmt or scope_opts.get("url_path_prefix"):
                return slow  # access logs and path prefixes: granian's wrapper does them
            return runner(hits, slow)

        hits_first.granian_wrap = granian_wrap  # type: ignore[attr-defined]
        setattr(module, WRAPPER_NAME, hits_first)
    log.info("cache hits are answered from granian's callback")
    return True


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
