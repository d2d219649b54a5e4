"""Replacement segmentation functions a test worker can run (same signature as the pipeline's).

They stand in for ``pipeline.run.run_segmentation`` only where a test needs a run that is slow
(to kill the worker mid-run) or that fails; the end-to-end tests use the real pipeline.
"""

from __future__ import annotations

import time


def slow_segment(transactions, *, progress=None, **_kwargs):
    """Reports progress for two minutes, long enough to be killed mid-run."""
    for step in range(1200):
        if progress is not None:
            progress("slow stage", step / 1200)
        time.sleep(0.1)
    raise RuntimeError("slow_segment was not killed in time")


def failing_segment(transactions, *, progress=None, **_kwargs):
    """Gets a little way, then fails like a pipeline bug would."""
    if progress is not None:
        progress("features", 0.2)
    raise ValueError("synthetic failure inside the pipeline")


def pause_then_segment(transactions, *, progress=None, **kwargs):
    """Reports progress for eight seconds (time to stop the worker), then runs the real pipeline."""
    from pipeline.run import run_segmentation

    for step in range(80):
        if progress is not None:
            progress("slow stage", step / 800)
        time.sleep(0.1)
    return run_segmentation(transactions, progress=progress, **kwargs)
