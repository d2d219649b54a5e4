"""The stale-run reaper, run by the beat process itself so no free worker slot is needed.

The only worker may be dead, stopped or busy with the very run that went silent; a reaper
that waits in the worker's queue then never runs. So every beat (``insiders beat``,
``celery beat`` and the beat embedded in ``insiders worker --beat``) starts a daemon thread
on Celery's ``beat_init`` signal that reaps every ``INSIDERS_REAPER_EVERY_SECONDS``.
"""

from __future__ import annotations

import logging
import threading

from settings import Settings, load_settings
from store.db import dispose_engines, get_engine, session_scope
from store.webhook_events import reap_and_record
from worker.embedded import prune_delivered_messages
from worker.webhook_delivery import send_pending

log = logging.getLogger(__name__)


def reap_once(settings: Settings) -> list[int]:
    """Fail runs whose worker went silent (or that never started); returns their ids."""
    if settings.embedded:
        prune_delivered_messages(settings)
    engine = get_engine(settings.database_url)
    with session_scope(engine) as session:
        reaped = reap_and_record(session, settings)
    for run_id in reaped:
        log.warning("reaper: run %s failed (its worker went silent or never started it)", run_id)
        send_pending(engine, run_id=run_id)
    return reaped


class ReaperThread(threading.Thread):
    """Calls ``reap_once`` every ``settings.reaper_every_seconds`` until ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="insiders-reaper", daemon=True)
        self.settings = settings
        self._stop_event = threading.Event()

    def run(self) -> None:
        every = max(1, self.settings.reaper_every_seconds)
        while not self._stop_event.wait(every):
            try:
                reap_once(self.settings)
            except Exception:  # the database may be down for a while: try again next time
                log.warning("reaper: pass failed; next try in %s s", every, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


def start_reaper_thread(settings: Settings | None = None) -> ReaperThread:
    """Start the reaper thread of this beat process."""
    # the embedded beat is a forked child of the worker: never share its pooled connections
    dispose_engines()
    thread = ReaperThread(settings or load_settings())
    thread.start()
    log.info("reaper: failing runs silent for %s s, every %s s",
             thread.settings.stale_after_seconds, thread.settings.reaper_every_seconds)
    return thread
