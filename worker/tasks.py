"""Named, thin, idempotent tasks: each takes ids, hands off to worker.runner or the store.

``app.conf.insiders_segment`` (unset in production) may hold a replacement for
``pipeline.run.run_segmentation``; test worker apps set it, nothing reads it from settings.
"""

from __future__ import annotations

from settings import load_settings
from store.db import get_engine
from store.queue import REAPER_TASK, RUN_TASK, SCHEDULED_RUN_TASK, request_run
from worker.celery_app import app
from worker.reaper import reap_once
from worker.runner import execute_run


@app.task(name=RUN_TASK, bind=True)
def run_segmentation(self, run_id: int) -> str:
    """Run ``run_id`` once: a re-delivered message for a started or finished run does nothing."""
    return execute_run(
        int(run_id),
        engine=get_engine(),
        settings=load_settings(),
        task_id=self.request.id,
        segment=app.conf.get("insiders_segment"),
    )


@app.task(name=REAPER_TASK)
def reap_stale() -> list[int]:
    """Fail runs whose worker went silent (or that never started); returns their ids."""
    return reap_once(load_settings())


@app.task(name=SCHEDULED_RUN_TASK)
def scheduled_run() -> int:
    """The beat's run: queued like any other (or the active run returned); returns its id."""
    run, _created = request_run(get_engine(), trigger="schedule", requested_by="schedule")
    return run.id
