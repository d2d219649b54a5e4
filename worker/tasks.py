"""Named, thin, idempotent tasks: each takes ids, hands off to worker.runner or the store.

``app.conf.insiders_segment`` (unset in production) may hold a replacement for
``pipeline.run.run_segmentation``; test worker apps set it, nothing reads it from settings.
"""

from __future__ import annotations

from settings import load_settings
from store.db import get_engine
from store.queue import INBOX_TASK, REAPER_TASK, RUN_TASK, SCHEDULED_RUN_TASK, request_run
from worker.celery_app import app
from worker.inbox import ingest_inbox
from worker.partition_run import PARTITION_TASK
from worker.partitions import work as work_on_partitions
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


@app.task(name=PARTITION_TASK)
def score_partition(run_id: int, partition: int) -> str:
    """Score one partition of a run (then any left, then publish the run when all are done);
    a re-delivered message for a partition already done does nothing."""
    return work_on_partitions(int(run_id), int(partition), engine=get_engine(),
                              settings=load_settings())


@app.task(name=REAPER_TASK)
def reap_stale() -> list[int]:
    """Fail runs whose worker went silent (or that never started); returns their ids."""
    return reap_once(load_settings())


@app.task(name=INBOX_TASK)
def ingest_inbox_files() -> dict:
    """Ingest the files waiting in INSIDERS_INBOX_DIR; returns what was ingested or refused."""
    return ingest_inbox(get_engine(), load_settings()).summary()


@app.task(name=SCHEDULED_RUN_TASK)
def scheduled_run() -> int:
    """The beat's run: the inbox is ingested first, then a run is queued like any other (or
    the active run returned); returns its id."""
    ingest_inbox(get_engine(), load_settings())
    run, _created = request_run(get_engine(), trigger="schedule", requested_by="schedule")
    return run.id
