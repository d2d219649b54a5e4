"""SegmentationModel: determinism, row order, scoring new customers, the Insiders cluster."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineInputError
from pipeline.segment import SegmentationModel, fit_sample
from tests.unit.model_data import make_features

PARAMS = {"n_estimators": 25, "random_state": 5}


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_features(240, seed=2)


@pytest.fixture(scope="module")
def model(features: pd.DataFrame) -> SegmentationModel:
    return SegmentationModel(**PARAMS).fit(features)


def test_init_only_stores_parameters() -> None:
    model = SegmentationModel(n_clusters=5)
    assert model.get_params()["n_clusters"] == 5
    assert not [name for name in vars(model) if name.endswith("_")]


def test_fit_learns_the_documented_attributes(model: SegmentationModel, features) -> None:
    for name in ("scaler_", "forest_", "umap_", "mixture_", "cluster_profiles_", "silhouette_",
                 "fast_scorer_"):
        assert hasattr(model, name)
    assert model.labels_.shape == (len(features),)
    assert set(np.unique(model.labels_)) == set(range(7))
    assert model.embedding_.shape == (len(features), 2)
    assert -1 <= model.silhouette_ <= 1


def test_insiders_cluster_has_the_highest_mean_revenue(model: SegmentationModel, features) -> None:
    revenue = features.sort_index()["gross_revenue"].groupby(model.labels_).mean()
    assert model.insiders_cluster_ == revenue.idxmax()
    profiles = model.cluster_profiles_
    assert profiles["size"].sum() == len(features)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)


def test_same_input_any_row_order_same_output(model: SegmentationModel, features) -> None:
    shuffled = features.sample(frac=1.0, random_state=11)
    again = SegmentationModel(**PARAMS).fit(shuffled)
    np.testing.assert_array_equal(again.labels_, model.labels_)
    np.testing.assert_array_equal(again.embedding_, model.embedding_)
    assert again.insiders_cluster_ == model.insiders_cluster_


def test_predict_new_customers_in_caller_order(model: SegmentationModel) -> None:
    new = make_features(40, seed=9)
    new.index = new.index + 100_000
    labels = model.predict(new)
    assert labels.shape == (40,) and set(labels) <= set(range(7))
    reversed_rows = new.iloc[::-1]
    np.testing.assert_array_equal(model.predict(reversed_rows), labels[::-1])
    np.testing.assert_array_equal(model.transform(reversed_rows), model.transform(new)[::-1])


def test_predict_on_the_fitted_customers_gives_the_fitted_labels(model, features) -> None:
    np.testing.assert_array_equal(model.predict(features.sort_index()), model.labels_)


def test_fitted_model_survives_pickling(model: SegmentationModel) -> None:
    new = make_features(15, seed=4)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(new), model.predict(new))


def test_a_model_pickled_before_fast_scoring_still_scores_exactly(model, features) -> None:
    old = pickle.loads(pickle.dumps(model))
    del old.scoring, old.fast_scorer_
    restored = pickle.loads(pickle.dumps(old))
    assert restored.get_params()["scoring"] == "auto" and not restored.fast_scoring_
    new = make_features(15, seed=4)
    np.testing.assert_array_equal(restored.transform(new), model.transform(new))


def test_bad_features_are_named(features: pd.DataFrame) -> None:
    with pytest.raises(PipelineInputError, match="avg_ticket"):
        SegmentationModel().fit(features.drop(columns="avg_ticket"))
    with pytest.raises(PipelineInputError, match="duplicate"):
        SegmentationModel().fit(pd.concat([features, features.iloc[:3]]))
    with pytest.raises(PipelineInputError, match="at least"):
        SegmentationModel().fit(features.iloc[:10])
    broken = features.copy()
    broken.iloc[0, 0] = np.nan
    with pytest.raises(PipelineInputError, match="gross_revenue"):
        SegmentationModel().fit(broken)


# ------------------------------------------------------------------ fitting on a sample

SAMPLED = {**PARAMS, "max_fit_customers": 120}


@pytest.fixture(scope="module")
def sampled(features: pd.DataFrame) -> SegmentationModel:
    return SegmentationModel(**SAMPLED).fit(features)


def test_above_the_cap_the_model_fits_on_a_sample_and_scores_everyone(sampled, features) -> None:
    assert 100 <= sampled.fit_sample_.sum() <= 120
    assert sampled.umap_.embedding_.shape == (sampled.fit_sample_.sum(), 2)
    assert sampled.labels_.shape == (len(features),)
    assert sampled.embedding_.shape == (len(features), 2)
    assert np.isfinite(sampled.embedding_).all()
    assert sampled.cluster_profiles_["size"].sum() == sampled.fit_sample_.sum()  # learnt on it
    np.testing.assert_array_equal(
        sampled.embedding_[sampled.fit_sample_], sampled.umap_.embedding_
    )
    np.testing.assert_array_equal(sampled.labels_, sampled.mixture_.predict(sampled.embedding_))


def test_sampled_fit_is_deterministic_and_row_order_independent(sampled, features) -> None:
    again = SegmentationModel(**SAMPLED).fit(features.sample(frac=1.0, random_state=3))
    np.testing.assert_array_equal(again.fit_sample_, sampled.fit_sample_)
    np.testing.assert_array_equal(again.embedding_, sampled.embedding_)
    np.testing.assert_array_equal(again.labels_, sampled.labels_)
    assert again.insiders_cluster_ == sampled.insiders_cluster_


def test_a_sample_drawn_beforehand_learns_what_the_whole_fit_learns(sampled, features) -> None:
    # the refit's path when the database draws the sample (store.fit_sample)
    ordered = features.sort_index()
    drawn = ordered[sampled.fit_sample_].sample(frac=1.0, random_state=4)
    given = SegmentationModel(**SAMPLED).fit(drawn, drawn_from=len(features))
    assert given.fitted_on_sample_ and given.fast_scoring_
    assert len(given.customer_ids_) == len(drawn)
    assert given.insiders_cluster_ == sampled.insiders_cluster_
    assert given.silhouette_ == sampled.silhouette_
    pd.testing.assert_frame_equal(given.cluster_profiles_, sampled.cluster_profiles_)
    shuffled = features.sample(frac=1.0, random_state=8)
    placed = given.place(shuffled)
    np.testing.assert_array_equal(placed, sampled.place(shuffled))
    np.testing.assert_array_equal(
        placed, sampled.embedding_[ordered.index.get_indexer(shuffled.index)])
    np.testing.assert_array_equal(given.mixture_.predict(placed),
                                  sampled.labels_[ordered.index.get_indexer(shuffled.index)])
    # fitted customers keep their fitted place; the others are scored
    assert not np.array_equal(given.place(drawn), given.transform(drawn))


def test_a_whole_frame_given_as_the_sample_is_a_whole_fit(model, features) -> None:
    given = SegmentationModel(**PARAMS).fit(features, drawn_from=len(features))
    assert not given.fitted_on_sample_ and not given.fast_scoring_
    np.testing.assert_array_equal(given.embedding_, model.embedding_)
    np.testing.assert_array_equal(given.place(features), model.place(features))


def test_the_sample_covers_every_revenue_band(features: pd.DataFrame) -> None:
    ordered = features.sort_index()
    mask = fit_sample(ordered.index.to_numpy(), ordered["gross_revenue"].to_numpy(), 60,
                      random_state=1, strata=10)  # fmt: skip
    assert mask.sum() == 60
    bands = pd.qcut(ordered["gross_revenue"].rank(method="first"), 10, labels=False)
    assert (bands[mask].value_counts() == 6).all()
    assert fit_sample(ordered.index.to_numpy(), ordered["gross_revenue"].to_numpy(), None).all()


def test_at_or_under_the_cap_nothing_changes(model: SegmentationModel, features) -> None:
    unlimited = SegmentationModel(**PARAMS, max_fit_customers=None).fit(features)
    capped = SegmentationModel(**PARAMS, max_fit_customers=len(features)).fit(features)
    for other in (unlimited, capped):
        assert other.fit_sample_.all()
        np.testing.assert_array_equal(other.embedding_, model.embedding_)
        np.testing.assert_array_equal(other.labels_, model.labels_)
        assert other.silhouette_ == model.silhouette_
