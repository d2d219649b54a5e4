"""The worker's runs look ahead: a refit keeps the forward model's parameters with the model
version, a later run applies them, and each succeeded run has one forecast row per labelled
customer, written with the run (PostgreSQL and SQLite, in process)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

import migrations
from settings import load_settings
from store.db import make_engine, session_scope
from store.forecasts import at_risk, read_forecasts
from store.results import load_labels
from store.runs import create_run, get_run
from store.schema import ModelVersion
from store.transactions import ingest_file
from worker.runner import execute_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def _run(engine: Engine, settings, as_of: dt.date) -> int:
    with session_scope(engine) as session:
        run_id = create_run(session, trigger="cli", as_of=as_of).id
    assert execute_run(run_id, engine=engine, settings=settings) == "succeeded"
    return run_id


def _check(engine: Engine, synthetic_file, tmp_path) -> None:
    ingest_file(engine, synthetic_file, profile="default")
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path / "data"),
                              "INSIDERS_PROFILE": "default", "INSIDERS_AT_RISK_DAYS": "45"})
    first = _run(engine, settings, dt.date(2011, 9, 30))
    with engine.connect() as connection:
        stored = connection.execute(select(ModelVersion.parameters)).scalar_one()
    params = stored["forecast"]
    assert params["fitted_as_of"] == "2011-09-30" and set(params["bgnbd"]) == {"r", "alpha",
                                                                                "a", "b"}
    labels = load_labels(engine, first)
    ahead = read_forecasts(engine, first)
    assert ahead["customer_id"].tolist() == labels.index.tolist()
    assert ahead["p_active"].notna().mean() > 0.9
    risky = at_risk(engine, first)
    assert labels.loc[risky["customer_id"], "is_insiders"].all()
    assert all(day is None or day <= dt.date(2011, 11, 14) for day in risky["at_risk_on"])
    with session_scope(engine) as session:
        run = get_run(session, first)
        assert run.metrics["forecast"]["fitted"] is True
        assert run.parameters["at_risk_days"] == 45

    second = _run(engine, settings, dt.date(2011, 10, 21))
    with session_scope(engine) as session:
        run = get_run(session, second)
        assert run.model_version == 1 and run.metrics["forecast"]["fitted"] is False
    later = read_forecasts(engine, second)
    assert len(later) == len(load_labels(engine, second))
    # a month on, with the same parameters, the same customers look different
    assert not later.set_index("customer_id")["p_active"].reindex(
        ahead["customer_id"]).equals(ahead.set_index("customer_id")["p_active"])


def test_worker_runs_store_forecasts_postgresql(clean_db, synthetic_file, tmp_path):
    _check(clean_db, synthetic_file, tmp_path)


def test_worker_runs_store_forecasts_sqlite(synthetic_file, tmp_path):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        _check(engine, synthetic_file, tmp_path)
    finally:
        engine.dispose()
