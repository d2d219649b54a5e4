"""A refit's fitting sample drawn by the database (store.fit_sample) on the real data, on
PostgreSQL and on SQLite: the pandas sampler's customers with their features and RFM rows, and
a refit that fits on it gives the run a refit drawing its own sample gives (labels, Insiders,
model version, forward model, forecasts). The real data have fewer customers than the
sampling size (20,000): the sizes here are small so that a sample is drawn at all."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from pipeline.errors import PipelineInputError
from pipeline.run import run_segmentation
from pipeline.run_forecast import ForecastSettings
from pipeline.segment import MAX_FIT_CUSTOMERS, fit_sample
from store.features_sql import rollup_features
from store.fit_sample import load_fit_sample
from store.run_data import load_run_data
from store.run_inputs import rollup_rfm
from store.schema import Base
from store.transactions import ingest_file
from tests.integration.test_run_data_real_data import _empty

pytestmark = pytest.mark.integration
AS_OF = dt.date(2011, 9, 30)


@pytest.fixture(scope="module")
def pg_real(pg_engine, real_data_path):
    _empty(pg_engine)
    ingest_file(pg_engine, real_data_path, profile="online-retail")
    yield pg_engine
    _empty(pg_engine)


@pytest.fixture(scope="module")
def sqlite_real(tmp_path_factory, real_data_path):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('sample') / 'store.db'}")
    Base.metadata.create_all(engine)
    ingest_file(engine, real_data_path, profile="online-retail")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
@pytest.mark.parametrize(("size", "seed"), [(1000, 42), (2500, 7)])
def test_the_database_draws_the_pandas_sample(database, size, seed, request):
    engine = request.getfixturevalue(database)
    with engine.connect() as connection:
        features = rollup_features(connection, AS_OF)
        rfm = rollup_rfm(connection, AS_OF)
        sample = load_fit_sample(connection, AS_OF, random_state=seed, max_customers=size)
        assert load_fit_sample(connection, AS_OF, random_state=seed,
                               max_customers=len(features)) is None
    mask = fit_sample(features.index.to_numpy(), features["gross_revenue"].to_numpy(), size,
                      random_state=seed)
    assert 0.9 * size <= mask.sum() <= size
    assert sample.drawn_from == len(features) and sample.random_state == seed
    pd.testing.assert_frame_equal(sample.features, features[mask], check_exact=True)
    pd.testing.assert_frame_equal(sample.rfm, rfm.loc[features.index[mask]], check_exact=True)


def test_a_refit_on_the_database_sample_equals_a_refit_drawing_it(sqlite_real):
    forecast = ForecastSettings()
    with sqlite_real.connect() as connection:
        drawn = load_run_data(connection, AS_OF, horizon_days=90, fit_sample_seed=42,
                              max_fit_customers=800)
        whole = load_run_data(connection, AS_OF, horizon_days=90)
        assert load_run_data(connection, AS_OF, horizon_days=90,
                             fit_sample_seed=42).fit_sample is None  # under 20,000
    assert whole.fit_sample is None and len(drawn.fit_sample.features) <= 800
    runs = [run_segmentation(data, random_state=42, forecast=forecast, max_fit_customers=800)
            for data in (drawn, whole)]
    got, expected = runs
    pd.testing.assert_frame_equal(got.labels, expected.labels, check_exact=True)
    pd.testing.assert_frame_equal(got.forecasts, expected.forecasts, check_exact=True)
    assert got.state.thresholds == expected.state.thresholds
    assert got.state.clusters == expected.state.clusters
    assert got.state.parameters["forecast"] == expected.state.parameters["forecast"]
    assert got.state.parameters["forecast"]["n_fit_customers"] <= 800
    assert got.metrics["silhouette"] == expected.metrics["silhouette"]
    # the new version keeps only the fitted customers' positions, not every customer's
    assert len(got.state.model.customer_ids_) == len(drawn.fit_sample.features)
    assert got.state.model.fast_scoring_ and expected.state.model.fast_scoring_
    assert np.isin(got.labels.index, drawn.features.index).all()
    with pytest.raises(PipelineInputError, match="not drawn as this run draws it"):
        run_segmentation(drawn, random_state=7, max_fit_customers=800)
    assert len(whole.features) < MAX_FIT_CUSTOMERS
