"""Two runs compared through their customer indexes equal the same comparison by joining
their labels (pandas merge), with customers new in the later run and customers gone from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.run_compare import CustomerIndex, moved, transitions


def _labels(rng: np.random.Generator, ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": rng.permutation(ids),
                         "cluster": rng.integers(0, 7, len(ids)),
                         "is_insiders": rng.random(len(ids)) < 0.2})


def _pair(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(1, 5_000, 1_500))
    older = _labels(rng, ids[rng.random(len(ids)) < 0.8])  # some are new in the later run
    newer = _labels(rng, ids[rng.random(len(ids)) < 0.9])  # some are gone from it
    return older, newer


def _joined(older: pd.DataFrame, newer: pd.DataFrame, how: str) -> pd.DataFrame:
    return older.merge(newer, on="customer_id", how=how, suffixes=("_before", "_after"))


@pytest.mark.parametrize("seed", range(5))
def test_moves_are_insiders_in_one_run_and_not_in_the_other(seed):
    older, newer = _pair(seed)
    entered, exited = moved(CustomerIndex.from_frame(older), CustomerIndex.from_frame(newer))
    right = _joined(older, newer, "right")
    expected_in = right[right["is_insiders_after"]
                        & ~right["is_insiders_before"].fillna(False).astype(bool)]
    left = _joined(older, newer, "left")
    expected_out = left[left["is_insiders_before"]
                        & ~left["is_insiders_after"].fillna(False).astype(bool)]
    assert entered.tolist() == sorted(expected_in["customer_id"])
    assert exited.tolist() == sorted(expected_out["customer_id"])
    assert len(exited) and len(entered)
    gone = set(older["customer_id"]) - set(newer["customer_id"])
    assert gone & set(exited), "an Insider gone from the later run counts as leaving"


@pytest.mark.parametrize("seed", range(5))
def test_transitions_count_every_customer_of_the_later_run_by_both_clusters(seed):
    older, newer = _pair(seed)
    counts = transitions(CustomerIndex.from_frame(older), CustomerIndex.from_frame(newer))
    expected = (_joined(older, newer, "right")
                .groupby(["cluster_before", "cluster_after"], dropna=False).size()
                .rename("customers").reset_index())
    key = ["cluster_before", "cluster_after"]
    got = counts.sort_values(key).reset_index(drop=True)
    want = expected.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert counts["cluster_before"].isna().any(), "customers new in the later run"
    assert counts["customers"].sum() == len(newer)


def test_an_empty_run_on_either_side():
    older, newer = _pair(0)
    empty = CustomerIndex.from_frame(older.iloc[:0])
    full = CustomerIndex.from_frame(newer)
    entered, exited = moved(empty, full)
    assert entered.tolist() == sorted(newer.loc[newer["is_insiders"], "customer_id"])
    assert not len(exited)
    assert transitions(empty, full)["cluster_before"].isna().all()
    assert transitions(full, empty).empty
