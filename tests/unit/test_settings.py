"""Settings from INSIDERS_* variables, the Celery configuration and the beat schedule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from settings import SettingsError, load_settings


def test_defaults_are_the_embedded_mode(tmp_path):
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path)})
    assert settings.embedded
    assert settings.database_url == f"sqlite:///{(tmp_path / 'insiders.db').resolve()}"
    assert settings.broker_url == f"sqla+sqlite:///{(tmp_path / 'broker.db').resolve()}"
    assert settings.schedule_cron == "0 3 * * *"
    assert settings.task_hard_time_limit > settings.task_soft_time_limit


def test_production_needs_its_secrets():
    with pytest.raises(SettingsError, match=r"INSIDERS_DATABASE_URL.*INSIDERS_SECRET_KEY"):
        load_settings({"INSIDERS_ENV": "production", "INSIDERS_BROKER_URL": "redis://r"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("INSIDERS_SCHEDULE", "every day"), ("INSIDERS_HEARTBEAT_SECONDS", "ten"),
     ("INSIDERS_TASK_HARD_TIME_LIMIT", "10"), ("INSIDERS_PARTITION_ROWS", "0"),
     ("INSIDERS_PARTITIONS", "-1"), ("INSIDERS_WORKER_CONCURRENCY", "0")],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_celery_app_is_json_only_with_late_acks_and_limits():
    from store.queue import broker_transport_options
    from worker.celery_app import create_app

    settings = load_settings({"INSIDERS_BROKER_URL": "redis://127.0.0.1:6379/15",
                              "INSIDERS_TASK_SOFT_TIME_LIMIT": "100"})
    conf = create_app(settings).conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (100, 400)
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert broker_transport_options(load_settings({})) == {"connect_args": {"timeout": 30}}


def test_tasks_are_registered_by_name():
    from worker.celery_app import app

    app.loader.import_default_modules()
    for name in ("insiders.run_segmentation", "insiders.reap_stale_runs",
                 "insiders.scheduled_run"):
        assert name in app.tasks


def test_beat_schedule_comes_from_settings_and_expires():
    from worker.schedule import beat_schedule

    settings = load_settings(
        {"INSIDERS_SCHEDULE": "30 2 * * 1", "INSIDERS_REAPER_EVERY_SECONDS": "45"}
    )
    schedule = beat_schedule(settings)
    run = schedule["scheduled-run"]
    assert run["task"] == "insiders.scheduled_run"
    assert run["schedule"].hour == {2} and run["schedule"].minute == {30}
    assert run["schedule"].day_of_week == {1}
    assert run["options"]["expires"] > 0
    assert schedule["reap-stale-runs"]["schedule"] == 45.0
    assert schedule["reap-stale-runs"]["options"]["expires"] == 45.0


def test_refit_policy():
    from types import SimpleNamespace

    from worker.runner import refit_reason

    state = SimpleNamespace(version=3, fitted_as_of=date(2011, 6, 30))
    assert refit_reason(None, as_of=date(2011, 7, 1), requested=False, every_days=28)
    assert refit_reason(state, as_of=date(2011, 7, 10), requested=True, every_days=28)
    assert refit_reason(state, as_of=date(2011, 7, 10), requested=False, every_days=28) is None
    assert "days old" in refit_reason(state, as_of=date(2011, 7, 31), requested=False,
                                      every_days=28)
    assert "later data" in refit_reason(state, as_of=date(2011, 5, 31), requested=False,
                                        every_days=28)


def test_backfill_period_ends():
    from cli.runs import period_ends

    assert period_ends(date(2011, 9, 15), date(2011, 12, 9)) == [
        date(2011, 9, 30), date(2011, 10, 31), date(2011, 11, 30), date(2011, 12, 9)
    ]
    assert period_ends(date(2011, 1, 1), date(2011, 2, 28))[-1] == date(2011, 2, 28)


def test_embedded_worker_lock(tmp_path):
    from worker.embedded import worker_lock, worker_running

    settings = load_settings({"INSIDERS_DATA_DIR": str(Path(tmp_path))})
    assert not worker_running(settings)
    with worker_lock(settings) as acquired:
        assert acquired
        with worker_lock(settings) as again:
            # flock is per open file: a second open in the same process does not get it
            assert not again
    assert not worker_running(settings)


def test_delivered_messages_are_pruned_from_the_embedded_broker(tmp_path):
    import sqlite3

    from worker.celery_app import create_app
    from worker.embedded import prune_delivered_messages

    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    app.send_task("insiders.ping")
    app.send_task("insiders.ping")
    broker = sqlite3.connect(tmp_path / "broker.db")
    with broker:
        # what kombu does on delivery: hide the message (its ORM update stamps the time)
        broker.execute("UPDATE kombu_message SET visible = 0, timestamp = '2020-01-01 00:00:00'"
                       " WHERE id = 1")
    assert prune_delivered_messages(settings, older_than_hours=0) == 1
    assert broker.execute("SELECT count(*) FROM kombu_message").fetchone() == (1,)


SAFE_PRODUCTION = {
    "INSIDERS_ENV": "production",
    "INSIDERS_DATABASE_URL": "postgresql://insiders:a-real-password@db:5432/insiders",
    "INSIDERS_BROKER_URL": "redis://redis:6379/0",
    "INSIDERS_SECRET_KEY": "0123456789abcdef0123456789abcdef",
}


def test_safe_production_settings_load():
    assert load_settings(SAFE_PRODUCTION).is_production


@pytest.mark.parametrize(
    ("override", "named"),
    [({"INSIDERS_DEBUG": "true"}, "INSIDERS_DEBUG"),
     ({"INSIDERS_SECRET_KEY": "change-me-to-a-long-random-string"}, "INSIDERS_SECRET_KEY"),
     ({"INSIDERS_ADMIN_PASSWORD": "change-me"}, "INSIDERS_ADMIN_PASSWORD"),
     ({"INSIDERS_DATABASE_URL": "postgresql://insiders:change-me@db/insiders"},
      "INSIDERS_DATABASE_URL"),
     ({"INSIDERS_FLOWER_PASSWORD": "Change-Me"}, "INSIDERS_FLOWER_PASSWORD"),
     ({"INSIDERS_SECRET_KEY": "x" * 31}, "at least 32 bytes")],
    ids=["debug", "secret-placeholder", "admin-placeholder", "url-placeholder",
         "flower-placeholder", "short-secret"],
)
def test_production_refuses_unsafe_settings(override, named):
    with pytest.raises(SettingsError, match=named):
        load_settings({**SAFE_PRODUCTION, **override})


def test_production_error_never_echoes_a_secret():
    with pytest.raises(SettingsError) as raised:
        load_settings({**SAFE_PRODUCTION, "INSIDERS_SECRET_KEY": "change-me-but-secret-ish"})
    assert "secret-ish" not in str(raised.value)


def test_development_allows_debug_and_placeholders():
    settings = load_settings({"INSIDERS_DEBUG": "true", "INSIDERS_ADMIN_PASSWORD": "change-me"})
    assert settings.debug and not settings.is_production


@pytest.mark.parametrize(
    ("argv", "env", "refused"),
    [(["celery", "flower"], {}, True),
     (["celery", "flower", "--basic-auth=admin:pw"], {}, False),
     (["celery", "flower"], {"FLOWER_BASIC_AUTH": "admin:pw"}, False),
     (["celery", "worker"], {}, False)],
)
def test_production_flower_needs_a_login(argv, env, refused):
    from worker.celery_app import refuse_open_flower

    settings = load_settings(SAFE_PRODUCTION)
    if refused:
        with pytest.raises(SettingsError, match="Flower without a login"):
            refuse_open_flower(settings, argv, env)
    else:
        refuse_open_flower(settings, argv, env)


def test_partition_count_follows_the_size_or_the_fixed_setting():
    from store.partitions import partition_count

    settings = load_settings({"INSIDERS_PARTITION_ROWS": "1000"})
    assert (settings.partition_rows, settings.partitions) == (1000, 0)
    assert load_settings({"INSIDERS_PARTITIONS": "3"}).partitions == 3
    assert [partition_count(n, rows=1000) for n in (0, 1, 1000, 1001, 10_500)] == [1, 1, 1, 2, 11]
    assert partition_count(10_500, rows=1000, fixed=4) == 4
