"""Stability on the real data set (a cheap part of issue 5's acceptance; the full figures come
from benchmarks/stability.py): row order does not matter, and dropping 1% of the customers who
are not Insiders, then refitting from the kept state, leaves the Insiders as they were."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import load_profile
from pipeline.ingest import read_transactions
from pipeline.run import run_segmentation

pytestmark = pytest.mark.realdata

AS_OF = dt.date(2011, 3, 31)  # an early date keeps the fits small
PROFILE = load_profile("online-retail")


@pytest.fixture(scope="module")
def transactions(real_data_path) -> pd.DataFrame:
    return read_transactions(real_data_path).transactions


@pytest.fixture(scope="module")
def base(transactions):
    return run_segmentation(transactions, as_of=AS_OF, profile=PROFILE)


def test_shuffled_rows_give_identical_membership(transactions, base):
    shuffled = transactions.sample(frac=1.0, random_state=11)
    again = run_segmentation(shuffled, as_of=AS_OF, profile=PROFILE)
    assert again.data_fingerprint == base.data_fingerprint
    pd.testing.assert_frame_equal(again.labels, base.labels)


def test_dropping_one_percent_keeps_the_insiders(transactions, base):
    labels = base.labels
    eligible = labels.index[~labels["is_insiders"].to_numpy()]
    eligible = eligible[eligible < PROFILE.guest_id_start]  # guest ids follow row order
    dropped = np.random.default_rng(0).choice(
        eligible.to_numpy(), size=round(0.01 * len(labels)), replace=False
    )
    kept = transactions[~transactions["customer_id"].isin(dropped)]
    refit = run_segmentation(kept, as_of=AS_OF, profile=PROFILE, state=base.state,
                             previous=labels, refit=True)
    assert refit.state.version == base.state.version + 1
    remaining = refit.labels.index.intersection(labels.index)
    before = set(remaining[labels["is_insiders"].reindex(remaining).to_numpy()])
    after = set(remaining[refit.labels["is_insiders"].reindex(remaining).to_numpy()])
    assert len(before & after) / len(before | after) >= 0.98
    assert 0.05 <= refit.metrics["insiders_share"] <= 0.15
    assert refit.metrics["revenue_share"] >= 0.40
