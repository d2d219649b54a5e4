"""A refit in two steps, as the worker runs one of more customers than it fits on: the model
version fitted alone (:func:`pipeline.run.fit_version`), then the customers scored with it in
parts (:func:`pipeline.partition_scoring.score_partition` with ``refit=True``). Together they
give the version, labels and events of the refit in one call."""

from __future__ import annotations

import copy
import datetime as dt

import pandas as pd
import pytest

from pipeline.clean import clean_transactions, load_profile
from pipeline.ingest import validate_transactions
from pipeline.partition_scoring import score_partition, scores_per_customer
from pipeline.run import run_segmentation
from pipeline.run_data import run_data_from_clean
from pipeline.run_forecast import PARAMS_KEY, ForecastSettings
from pipeline.synthetic import generate_transactions
from pipeline.versions import fit_version

PROFILE = load_profile("online-retail")
FIRST, LATER = dt.date(2011, 9, 30), dt.date(2011, 11, 30)
FIT = {"n_clusters": 5, "random_state": 7, "max_fit_customers": 300}


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return validate_transactions(generate_transactions(800, seed=5)).transactions


@pytest.fixture(scope="module")
def first(transactions):
    return run_segmentation(transactions, as_of=FIRST, profile=PROFILE, **FIT)


@pytest.fixture(scope="module")
def later(transactions):
    return run_data_from_clean(clean_transactions(transactions, PROFILE), LATER,
                               fingerprint="later", horizon_days=90)


@pytest.fixture(scope="module")
def at_once(first, later):
    return run_segmentation(later, state=copy.deepcopy(first.state), previous=first.labels,
                            refit=True, forecast=ForecastSettings(), **FIT)


@pytest.fixture(scope="module")
def version(first, later):
    return fit_version(later, state=copy.deepcopy(first.state), previous=first.labels,
                       forecast=ForecastSettings(), **FIT)


def _in_parts(later, version, first, *, old_thresholds) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = later.features.index
    halves = (ids[ids < ids[len(ids) // 2]], ids[ids >= ids[len(ids) // 2]])
    scored = [score_partition(later.features.loc[part], version,
                              first.labels.loc[first.labels.index.intersection(part)],
                              refit=True, old_thresholds=old_thresholds)
              for part in halves]
    labels = pd.concat([s.labels for s in scored]).sort_index()
    events = pd.concat([s.events for s in scored]).sort_values(["customer_id", "kind"])
    return labels, events.reset_index(drop=True)


def test_the_version_fitted_alone_is_the_one_the_refit_makes(at_once, version):
    assert version.version == at_once.state.version == 2
    assert version.thresholds == at_once.state.thresholds
    assert version.clusters == at_once.state.clusters
    assert version.parameters == at_once.state.parameters
    assert PARAMS_KEY in version.parameters  # its forward model, for the parts' forecasts
    assert scores_per_customer(version)  # fitted on a sample: it places each customer alone


def test_scoring_in_parts_gives_the_refits_labels_and_events(at_once, version, first, later):
    labels, events = _in_parts(later, version, first, old_thresholds=first.state.thresholds)
    pd.testing.assert_frame_equal(labels, at_once.labels.sort_index())
    want = at_once.events.sort_values(["customer_id", "kind"]).reset_index(drop=True)
    assert len(want) > 0
    pd.testing.assert_frame_equal(events, want)


def test_the_events_are_explained_against_the_replaced_versions_levels(version, first, later):
    """Against levels nobody reaches, every known customer's entry is the new version's doing;
    against the new version's own levels, the customer's."""
    out_of_reach = copy.deepcopy(first.state.thresholds)
    out_of_reach["entry"]["gross_revenue"]["value"] = 1e12
    _, strict = _in_parts(later, version, first, old_thresholds=out_of_reach)
    _, own = _in_parts(later, version, first, old_thresholds=version.thresholds)
    entered = strict[(strict["kind"] == "entered") & (strict["cause"] != "new_customer")]
    assert len(entered) > 0 and set(entered["cause"]) == {"model_update"}
    assert "model_update" not in set(own.loc[entered.index, "cause"])
