"""The worker's runs read the daily rollup, never a transaction: on the real data (PostgreSQL,
in process) a refit and a scoring run made with the ``transactions`` table renamed away give
the same labels, Insiders, forecasts and report as the pandas path on the stored rows."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from pipeline.clean import load_profile
from pipeline.run import RunResult, run_segmentation
from settings import load_settings
from store.db import session_scope
from store.forecasts import DECIMALS, read_forecasts
from store.results import latest_model_state, load_labels
from store.runs import create_run, get_run
from store.transactions import count_transactions, ingest_file, load_transactions
from worker.runner import execute_run, forecast_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
REFIT_ON, SCORE_ON = dt.date(2011, 11, 20), dt.date(2011, 12, 9)


@contextmanager
def transactions_hidden(engine: Engine):
    """The transactions table renamed away: any read of it (a query or COPY) fails."""
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE transactions RENAME TO transactions_hidden"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE transactions_hidden RENAME TO transactions"))


def _run(engine: Engine, settings, as_of: dt.date, *, refit: bool) -> int:
    with session_scope(engine) as session:
        run_id = create_run(session, trigger="cli", as_of=as_of, refit=refit).id
    outcome = execute_run(run_id, engine=engine, settings=settings)
    with session_scope(engine) as session:
        assert outcome == "succeeded", get_run(session, run_id).error
    return run_id


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k != "fit_seconds"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _plain(column: pd.Series) -> list:
    return [None if pd.isna(value) else value for value in column]


def _same_as_pandas(engine: Engine, run_id: int, expected: RunResult) -> None:
    labels = load_labels(engine, run_id)
    want = expected.labels.loc[:, labels.columns]
    pd.testing.assert_frame_equal(labels, want, check_exact=True, check_dtype=False)
    ahead = read_forecasts(engine, run_id).set_index("customer_id")
    frame = expected.forecasts.loc[ahead.index, ahead.columns]
    for name, places in DECIMALS.items():  # stored to these decimals
        np.testing.assert_array_equal(ahead[name].to_numpy(float),
                                      frame[name].to_numpy(float).round(places))
    for name in ("at_risk_on", "qualifies_on", "at_risk_reason", "qualify_reason"):
        assert _plain(ahead[name]) == _plain(frame[name])
    with session_scope(engine) as session:
        run = get_run(session, run_id)
        assert _without_timings(run.report) == _without_timings(expected.report)
        assert run.n_insiders == expected.metrics["n_insiders"] > 0


def test_worker_runs_from_the_rollup_equal_the_pandas_path(clean_db, real_data_path, tmp_path):
    ingest_file(clean_db, real_data_path, profile="online-retail")
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path / "data"),
                              "INSIDERS_PROFILE": "online-retail"})
    with transactions_hidden(clean_db):
        refit = _run(clean_db, settings, REFIT_ON, refit=True)
        scoring = _run(clean_db, settings, SCORE_ON, refit=False)
    stored = load_transactions(clean_db)
    options = {"profile": load_profile("online-retail"), "random_state": settings.random_state,
               "n_clusters": settings.n_clusters, "currency": settings.currency,
               "forecast": forecast_settings(settings)}
    expected = run_segmentation(stored, as_of=REFIT_ON, **options)
    _same_as_pandas(clean_db, refit, expected)
    with clean_db.connect() as connection:
        state = latest_model_state(connection, settings.model_artifact_key())
    scored = run_segmentation(stored, as_of=SCORE_ON, state=state,
                              previous=load_labels(clean_db, refit), **options)
    assert not scored.refitted and len(scored.labels) == 5695
    _same_as_pandas(clean_db, scoring, scored)
    with session_scope(clean_db) as session:
        run = get_run(session, scoring)
        assert run.parameters["n_transactions"] == count_transactions(session.connection())
        assert run.parameters["refit"] is False and run.model_version == 1
        # the rollup keeps no reason per row: the total the pandas path counts by reason
        assert run.metrics["cleaning"] == {"dropped": sum(scored.cleaning.values())}
