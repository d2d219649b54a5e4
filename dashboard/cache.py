"""One in-process cache for answers built from succeeded runs.

A succeeded run never changes, so an answer keyed by (database, name, run ids) is the same
for every user and every load. Callers pass only run ids already checked to have succeeded
(``data.succeeded_id``); an empty answer is never kept, in case its run was not written yet.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
from cachetools import LRUCache
from sqlalchemy import Engine

T = TypeVar("T")
CACHE_SIZE = 48

_cache: LRUCache = LRUCache(maxsize=CACHE_SIZE)
_lock = threading.Lock()


def _copy(value):
    return value.copy() if isinstance(value, pd.DataFrame | dict | list) else value


def _is_empty(value) -> bool:
    return hasattr(value, "__len__") and not len(value)


def remember(name: str, args: tuple, compute: Callable[[], T], engine: Engine) -> T:
    """``compute()`` once per (database, name, args); a copy of a kept frame, dict or list."""
    key = (name, engine.url.render_as_string(), args)
    with _lock:
        if key in _cache:
            return _copy(_cache[key])
    value = compute()
    if not _is_empty(value):
        with _lock:
            _cache[key] = value
    return _copy(value)


def kept(name: str, args: tuple, engine: Engine):
    """What ``remember`` keeps for (database, name, args), as is, or None; never computes."""
    with _lock:
        return _cache.get((name, engine.url.render_as_string(), args))


def per_run(resolve: Callable[[Engine | None], Engine]):
    """Decorate a read of succeeded runs taking ``engine=`` so its answers are remembered;
    ``resolve`` turns the engine argument (None for the app's) into an engine."""

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            engine = resolve(bound.arguments.pop("engine"))
            arguments = bound.arguments
            return remember(fn.__name__, tuple(arguments.items()),
                            lambda: fn(**arguments, engine=engine), engine)

        return wrapper

    return decorate


def clear() -> None:
    with _lock:
        _cache.clear()
