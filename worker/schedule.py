"""The beat schedule as data, built from settings.

``expires`` drops a slot the worker could not start in time, so missed slots do not pile up
(for example after the broker was down overnight).
"""

from __future__ import annotations

from celery.schedules import crontab

from settings import Settings
from store.queue import REAPER_TASK, SCHEDULED_RUN_TASK, WEBHOOK_SWEEP_TASK


def cron(expression: str) -> crontab:
    """A celery crontab from a 5-field cron string ``minute hour day month weekday``."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def beat_schedule(settings: Settings) -> dict[str, dict]:
    """Every periodic task of Insiders: the scheduled run and the stale-run reaper."""
    return {
        "scheduled-run": {
            "task": SCHEDULED_RUN_TASK,
            "schedule": cron(settings.schedule_cron),
            # a run that did not start within an hour of its slot waits for the next slot
            "options": {"expires": 3600},
        },
        "reap-stale-runs": {
            "task": REAPER_TASK,
            "schedule": float(settings.reaper_every_seconds),
            "options": {"expires": float(settings.reaper_every_seconds)},
        },
        "sweep-webhooks": {
            "task": WEBHOOK_SWEEP_TASK,
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
    }
