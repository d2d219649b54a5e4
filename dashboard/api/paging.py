"""A page of a run's Insiders or changes: sliced from the run's whole table when it is kept,
else read by keyset from SQL (``keyset``) while the whole table is built in the background,
so the first page of a run is quick and the next ones are slices."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

import flask
import pandas as pd
from sqlalchemy import Engine

from dashboard.api import keyset, tables

log = logging.getLogger(__name__)
_builder = ThreadPoolExecutor(1, thread_name_prefix="api-tables")  # one table at a time
_pending: dict[tuple, Future] = {}
_lock = threading.Lock()


def _build_later(name: str, key: tuple, engine: Engine, build: Callable[[], pd.DataFrame]):
    """Keep the whole table in the background (once per table) once this request's answer
    is sent, in the request's app, so it reads the same settings (the currency of reasons)."""
    app = flask.current_app._get_current_object() if flask.has_app_context() else None
    task = (name, engine.url.render_as_string(), key)

    def run() -> None:
        try:
            if app is None:
                tables.prepared(name, key, build, engine)
            else:
                with app.app_context():
                    tables.prepared(name, key, build, engine)
        except Exception:  # only a head start: a later page reads by keyset again
            log.exception("building the API's table %s %s failed", name, key)
        finally:
            with _lock:
                _pending.pop(task, None)

    def submit() -> None:
        with _lock:
            if task not in _pending:
                _pending[task] = _builder.submit(run)

    if flask.has_request_context():  # after the answer is sent: never slow down this page
        flask.after_this_request(lambda response: _on_close(response, submit))
    else:
        submit()


def _on_close(response: flask.Response, submit: Callable[[], None]) -> flask.Response:
    response.call_on_close(submit)
    return response


def settle(timeout: float | None = None) -> None:
    """Wait until no table is being built (benchmarks and tests)."""
    with _lock:
        futures = list(_pending.values())
    wait(futures, timeout=timeout)


def insiders(run: dict, after: int, rows: int, engine: Engine) -> tuple[pd.DataFrame, int]:
    """Up to ``rows`` Insiders of ``run`` after customer ``after``, and how many in all."""
    key = tables.insiders_key(run)
    whole = tables.kept(tables.INSIDERS, key, engine)
    if whole is not None:
        return tables.slice_after(whole, after, rows), len(whole)
    _build_later(tables.INSIDERS, key, engine,
                 lambda: tables.insiders_table(run, engine, contacts=False))
    frame, total = keyset.insiders_page(run, after, rows, engine)
    return tables.typed_insiders(frame, run, engine), total


def changes(older: dict, newer: dict, kind: str | None, cause: str | None, after: int,
            rows: int, engine: Engine) -> tuple[pd.DataFrame, int]:
    """Up to ``rows`` changes from ``older`` to ``newer`` after customer ``after``, and how
    many in all; a cause filter reads the whole table (the cause is known only after it)."""
    key = tables.changes_key(older, newer, kind, cause)
    whole = tables.kept(tables.CHANGES, key, engine)
    if whole is None and cause:
        whole = tables.changes_table(older, newer, engine, kind, cause, contacts=False)
    if whole is not None:
        return tables.slice_after(whole, after, rows), len(whole)
    _build_later(tables.CHANGES, key, engine,
                 lambda: tables.changes_table(older, newer, engine, kind, contacts=False))
    frame, total = keyset.changes_page(older, newer, after, rows, kind, engine)
    return tables.typed_changes(frame, older, newer), total
