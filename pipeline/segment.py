"""The segmentation model: leaf embedding -> Gaussian mixture -> the Insiders cluster."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from pipeline.cluster import fit_mixture, silhouette
from pipeline.columns import FEATURE_COLUMNS
from pipeline.embed import LeafEmbedding, keep_parameters
from pipeline.errors import PipelineInputError
from pipeline.fast_scoring import EmbeddingForest, check_scoring
from pipeline.profiles import cluster_profiles, insiders_cluster

Progress = Callable[[str, float], None]

MAX_FIT_CUSTOMERS = 20_000
"""Above this many customers the model is fitted on a stratified sample and scores the rest:
the exact neighbour search is quadratic and UMAP's seeded layout runs on one core."""

REVENUE_STRATA = 100
"""Gross-revenue quantile bins the fitting sample is drawn from (the high-value tail included)."""

ID_HASH_PRIME = 2_147_483_647
ID_HASH_STEPS: tuple[tuple[str, int], ...] = (
    ("multiply", 1_583_458_089), ("xorshift", 13), ("multiply", 1_067_922_161),
    ("xorshift", 16), ("multiply", 739_275_961),
)
"""The sample's key of a customer id: the id (and the seed) modulo the prime 2**31 - 1, then
these steps (multiply modulo the prime; x xor x >> n). Every value stays below 2**31 and every
product below 2**62, so SQL's 64-bit integers compute it too, on PostgreSQL and SQLite."""


class SegmentationModel(BaseEstimator):
    """Segment customers from their features (``pipeline.features.customer_features`` output).

    ``fit`` learns the embedding and the mixture on one set of customers; ``transform`` and
    ``predict`` place any customers (new ones included) with the fitted model. Rows are sorted by
    customer id before fitting and scoring, so the result does not depend on row order.

    With more than ``max_fit_customers`` customers (``None``: no limit) the embedding and the
    mixture are fitted on a sample of that many, drawn within gross-revenue quantiles by a
    seeded hash of the customer id; the other customers are then embedded and labelled by the
    fitted model. ``labels_`` and ``embedding_`` always cover every customer given to ``fit``;
    what the fit learns (the mixture, ``cluster_profiles_``, ``insiders_cluster_``,
    ``silhouette_``) comes from the fitted customers alone. ``fit(sample, drawn_from=n)`` fits on
    a sample drawn beforehand by the same rule from ``n`` customers (by the database:
    :mod:`store.fit_sample`) and learns exactly what ``fit`` on the ``n`` would; :meth:`place`
    then gives any customer the position that fit would have given them.

    ``scoring`` chooses how customers outside the fitted ones are placed: ``"exact"`` runs UMAP's
    transform (about 0.2 ms a customer), ``"fast"`` the ``fast_scorer_`` forest learnt at fit
    time from the fitted customers' positions (a few microseconds), ``"auto"`` exact when the
    model was fitted on every customer and fast when it was fitted on a sample. It can be
    changed on a fitted model with ``set_params``.
    """

    EXACT_TRANSFORM_PARTS: ClassVar[tuple[str, ...]] = (
        "embedding_model_", "forest_", "umap_", "scaler_")
    """What a fitted model holds for the exact transform alone (the embedding's
    :class:`pipeline.embed.LeafEmbedding` and its parts): a fast-scoring worker does without."""

    def __init__(
        self,
        n_clusters: int = 7,
        n_estimators: int = 100,
        umap_neighbors: int = 15,
        random_state: int | None = 42,
        n_jobs: int | None = -1,
        max_fit_customers: int | None = MAX_FIT_CUSTOMERS,
        scoring: str = "auto",
    ) -> None:
        keep_parameters(
            self, n_clusters=n_clusters, n_estimators=n_estimators, umap_neighbors=umap_neighbors,
            random_state=random_state, n_jobs=n_jobs, max_fit_customers=max_fit_customers,
            scoring=scoring,
        )

    def fit(
        self, features: pd.DataFrame, y: None = None, *, progress: Progress | None = None,
        drawn_from: int | None = None,
    ) -> Self:
        """Fit on ``features``; ``drawn_from``: they are the fitting sample already, drawn by
        :func:`fit_sample` from that many customers (none is drawn here)."""
        ordered = _ordered_features(features, minimum=max(self.n_clusters, self.umap_neighbors) + 1)
        started = time.perf_counter()
        fitted = self._fit_embedding(ordered, given=drawn_from is not None)
        self.embedding_model_, self.fast_scorer_, self.fit_sample_, self.embedding_ = fitted
        self.fitted_on_sample_ = not self.fit_sample_.all() or (drawn_from or 0) > len(ordered)
        self.scaler_ = self.embedding_model_.scaler_
        self.forest_ = self.embedding_model_.forest_
        self.umap_ = self.embedding_model_.umap_
        embedded = time.perf_counter()
        if progress:
            progress("embed", 1.0)
        self.mixture_ = fit_mixture(
            self.embedding_[self.fit_sample_], self.n_clusters, random_state=self.random_state
        )
        self.labels_ = self.mixture_.predict(self.embedding_)
        self.customer_ids_ = ordered.index.to_numpy()
        self.feature_names_in_ = np.array(FEATURE_COLUMNS, dtype=object)
        self.n_features_in_ = len(FEATURE_COLUMNS)
        learnt = self.fit_sample_
        self.cluster_profiles_ = cluster_profiles(ordered[learnt], self.labels_[learnt])
        self.insiders_cluster_ = insiders_cluster(self.cluster_profiles_)
        self.silhouette_ = silhouette(self.embedding_[learnt], self.labels_[learnt],
                                      random_state=self.random_state)
        self.fit_seconds_ = {
            "embed": embedded - started,
            "cluster": time.perf_counter() - embedded,
        }
        if progress:
            progress("cluster", 1.0)
        return self

    def embed(self, features: pd.DataFrame, *, progress: Progress | None = None) -> np.ndarray:
        """Fit only the embedding and return it in the caller's row order (for model selection)."""
        ordered = _ordered_features(features, minimum=self.umap_neighbors + 1)
        *_, embedding = self._fit_embedding(ordered)
        if progress:
            progress("embed", 1.0)
        return _in_input_order(embedding, ordered.index, features.index)

    def place(self, features: pd.DataFrame) -> np.ndarray:
        """The (n, 2) embedding ``fit`` gave each customer of ``features`` it was given (caller's
        row order); any other customer's from :meth:`transform`."""
        check_is_fitted(self, "mixture_")
        known = pd.Index(self.customer_ids_).get_indexer(features.index)
        if (known >= 0).all():
            return np.asarray(self.embedding_)[known]
        embedding = np.empty((len(features), np.shape(self.embedding_)[1]), dtype=np.float64)
        embedding[known >= 0] = np.asarray(self.embedding_)[known[known >= 0]]
        embedding[known < 0] = self.transform(features.iloc[np.flatnonzero(known < 0)])
        return embedding

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """The (n, 2) embedding of ``features``, in the caller's row order."""
        check_is_fitted(self, "mixture_")
        ordered = _ordered_features(features, minimum=1)
        matrix = ordered.to_numpy()
        if self.fast_scoring_:
            embedding = self.fast_scorer_.predict(matrix)
        else:
            embedding = self.embedding_model_.transform(matrix)
        return _in_input_order(embedding, ordered.index, features.index)

    @property
    def fast_scoring_(self) -> bool:
        """Whether ``transform`` uses the fast scorer (``scoring`` resolved for this model)."""
        check_is_fitted(self, "mixture_")
        # Models pickled before the fast scorer existed have none: they score exactly, as before.
        if getattr(self, "fast_scorer_", None) is None:
            return False
        # models pickled before fitting on a given sample: a sample is a mask not all true
        sampled = getattr(self, "fitted_on_sample_", not self.fit_sample_.all())
        return _is_fast(self.scoring, sampled)

    def __setstate__(self, state: dict) -> None:
        state.setdefault("scoring", "auto")  # artifacts pickled before the parameter existed
        super().__setstate__(state)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Cluster labels 0..k-1 of ``features`` (fitted model; caller's row order)."""
        return self.mixture_.predict(self.transform(features))

    def fit_predict(self, features: pd.DataFrame, y: None = None) -> np.ndarray:
        """Fit, then return the fitted labels in the caller's row order."""
        self.fit(features)
        return _in_input_order(self.labels_, pd.Index(self.customer_ids_), features.index)

    def _fit_embedding(
        self, ordered: pd.DataFrame, *, given: bool = False
    ) -> tuple[LeafEmbedding, EmbeddingForest, np.ndarray, np.ndarray]:
        """The embedding fitted on the sample (``given``: every row of ``ordered``), the fast
        scorer learnt from it, the sample mask and every customer's embedding (the others
        placed by ``scoring``)."""
        scoring = check_scoring(self.scoring)
        matrix = ordered.to_numpy()
        sample = np.ones(len(ordered), dtype=bool) if given else fit_sample(
            ordered.index.to_numpy(),
            ordered["gross_revenue"].to_numpy(),
            self.max_fit_customers,
            random_state=self.random_state,
        )
        fitted = matrix if sample.all() else matrix[sample]
        embedder = self._embedder().fit(fitted)
        scorer = EmbeddingForest(random_state=self.random_state, n_jobs=self.n_jobs).fit(
            fitted, embedder.embedding_
        )
        if sample.all():
            return embedder, scorer, sample, embedder.embedding_
        embedding = np.empty((len(ordered), embedder.embedding_.shape[1]), dtype=np.float64)
        embedding[sample] = embedder.embedding_
        rest = matrix[~sample]
        fast = _is_fast(scoring, True)
        embedding[~sample] = scorer.predict(rest) if fast else embedder.transform(rest)
        return embedder, scorer, sample, embedding

    def _embedder(self) -> LeafEmbedding:
        return LeafEmbedding(
            n_estimators=self.n_estimators,
            umap_neighbors=self.umap_neighbors,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )


def fit_sample(
    customer_ids: np.ndarray,
    revenue: np.ndarray,
    max_customers: int | None,
    *,
    random_state: int | None = 42,
    strata: int = REVENUE_STRATA,
) -> np.ndarray:
    """Boolean mask of at most ``max_customers`` customers to fit on (all of them if they fit).

    Each gross-revenue quantile bin contributes its share of the sample; within a bin the
    customers with the smallest seeded hash of their id are taken, so the choice depends on
    neither row order nor the other customers' ids.
    """
    n = len(customer_ids)
    if max_customers is None or n <= max_customers:
        return np.ones(n, dtype=bool)
    order = np.argsort(revenue, kind="stable")
    stratum = np.empty(n, dtype=np.int64)
    stratum[order] = np.arange(n) * strata // n
    frame = pd.DataFrame(
        {"stratum": stratum, "key": id_hash(customer_ids, random_state or 0)}
    ).sort_values(["stratum", "key"], kind="stable")
    rank = frame.groupby("stratum").cumcount().to_numpy()
    size = np.bincount(frame["stratum"].to_numpy(), minlength=strata)
    quota = size * max_customers // n
    chosen = rank < quota[frame["stratum"].to_numpy()]
    mask = np.zeros(n, dtype=bool)
    mask[frame.index.to_numpy()[chosen]] = True
    return mask


def _is_fast(scoring: str, sampled: bool) -> bool:
    """``scoring`` resolved: "auto" is fast only for a model fitted on a sample."""
    return check_scoring(scoring) == "fast" or (scoring == "auto" and sampled)


def id_hash(customer_ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random key per id (0 <= key < ID_HASH_PRIME), from :data:`ID_HASH_STEPS`
    in 64-bit signed integers, so that a database computes the same keys
    (:func:`store.fit_sample.id_hash_sql`)."""
    x = (np.asarray(customer_ids, dtype=np.int64) % ID_HASH_PRIME + seed % ID_HASH_PRIME) \
        % ID_HASH_PRIME
    for step, value in ID_HASH_STEPS:
        x = x * value % ID_HASH_PRIME if step == "multiply" else x ^ (x >> value)
    return x


def _ordered_features(features: pd.DataFrame, *, minimum: int) -> pd.DataFrame:
    """The six feature columns as float, sorted by customer id, after checking them."""
    missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
    if missing:
        raise PipelineInputError(f"features are missing column(s): {', '.join(missing)}")
    if features.index.has_duplicates:
        duplicated = features.index[features.index.duplicated()].unique()[:5].tolist()
        raise PipelineInputError(f"duplicate customer ids in features: {duplicated}")
    if len(features) < minimum:
        raise PipelineInputError(
            f"need at least {minimum} customers to segment, got {len(features)}"
        )
    ordered = features.loc[:, list(FEATURE_COLUMNS)].astype("float64").sort_index(kind="stable")
    if not np.isfinite(ordered.to_numpy()).all():
        bad = ordered.columns[~np.isfinite(ordered.to_numpy()).all(axis=0)].tolist()
        raise PipelineInputError(f"features have missing or infinite values in: {', '.join(bad)}")
    return ordered


def _in_input_order(
    values: np.ndarray, sorted_index: pd.Index, input_index: pd.Index
) -> np.ndarray:
    """Rows computed in sorted-id order, returned in the caller's order."""
    return values[sorted_index.get_indexer(input_index)]
