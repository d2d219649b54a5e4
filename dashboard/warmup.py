"""Reading the current run's heavy answers in the background, once per run, so that the first
person to open it after a run finishes does not wait."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from dashboard import data
from dashboard.config import app_engine

log = logging.getLogger(__name__)
_warmed: set[tuple] = set()
_lock = threading.Lock()


def warm_current(engine: Engine | None = None) -> bool:
    """Start warming the current run's answers; True if a warm-up started."""
    engine = app_engine(engine)
    run = data.current_run(engine)
    if run is None:
        return False
    key = (engine.url.render_as_string(), run["id"])
    with _lock:
        if key in _warmed:
            return False
        _warmed.add(key)
    threading.Thread(target=_warm, args=(engine, run), name="dashboard-warm", daemon=True).start()
    return True


def _warm(engine: Engine, run: dict) -> None:
    try:
        data.clusters(run["id"], engine=engine)
        data.insiders_summary(run["id"], engine=engine)
        data.embedding_sample(run["id"], run.get("n_customers"), engine=engine)
        previous = data.previous_run(run["id"], engine)
        if previous is not None:
            data.changes_and_transitions(previous["id"], run["id"], engine=engine)
        data.insiders_list(run["id"], engine=engine)
    except Exception:  # a warm-up is only a head start; the page reads again if it failed
        log.exception("warming the dashboard cache for run %s failed", run["id"])
