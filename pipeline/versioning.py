"""Model versions: cluster identity across refits, names and colours, threshold smoothing,
and a versioned model kept in a directory between command-line calls."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS
from pipeline.errors import PipelineInputError
from pipeline.membership import (
    INTEGER_FEATURES,
    LOWER_IS_BETTER,
    ThresholdPolicy,
    assign_membership,
    calibrate_revenue,
    derive_thresholds,
    entry_targets,
    exit_levels,
    has_character,
    levels,
    make_thresholds,
)


@dataclass(frozen=True)
class SmoothingPolicy:
    """How far a refit may move each threshold from the previous version's value.

    A move that cannot change anyone's membership (a stricter entry level, a looser exit level)
    may go up to ``max_free_step`` of the old value; a move that can (a looser entry level, a
    stricter exit level) at most ``max_step``. Relative changes within ``dead_band`` are ignored,
    so a refit on nearly the same data keeps the thresholds exactly.
    """

    dead_band: float = 0.10
    max_step: float = 0.05
    max_free_step: float = 0.25


def next_thresholds(
    features: pd.DataFrame,
    insiders: pd.Series | np.ndarray,
    previous: dict | None,
    membership: pd.Series | None = None,
    policy: ThresholdPolicy | None = None,
    smoothing: SmoothingPolicy | None = None,
) -> dict:
    """The thresholds of a new model version: read off its Insiders cluster and approached from
    the previous version's in bounded steps.

    Moves that change nobody's membership are always taken; moves that would (a looser entry
    level, a stricter exit level) only when, without them, the group (``membership``: the
    previous membership, None for none) would lose its character (:func:`has_character`).
    """
    policy = policy or ThresholdPolicy()
    if previous is None:
        return derive_thresholds(features, insiders, policy)
    smoothing = smoothing or SmoothingPolicy()
    moved = _bounded_move(features, insiders, previous, policy, smoothing)
    quiet = _bounded_move(features, insiders, previous, policy, smoothing, quiet=True)
    if has_character(features, assign_membership(features, quiet, membership), policy):
        return quiet
    return moved


def _bounded_move(
    features: pd.DataFrame,
    insiders: pd.Series | np.ndarray,
    previous: dict,
    policy: ThresholdPolicy,
    smoothing: SmoothingPolicy,
    *,
    quiet: bool = False,
) -> dict:
    """Every level moved toward its target (``quiet``: only the moves that move nobody). The
    revenue level is calibrated under the invoice and recency levels adopted."""
    old_entry, old_exit = levels(previous, "entry"), levels(previous, "exit")
    target, cluster_revenue = entry_targets(features, insiders, policy)
    entry = {c: step(c, "entry", old_entry[c], target[c], smoothing, quiet=quiet)
             for c in ("invoice_quantity", "recency_days")}
    revenue = calibrate_revenue(
        features, cluster_revenue, entry["invoice_quantity"], entry["recency_days"], policy
    )
    entry = {"gross_revenue": step("gross_revenue", "entry", old_entry["gross_revenue"], revenue,
                                   smoothing, quiet=quiet), **entry}
    widest = exit_levels(entry, policy.gap)
    exit_ = {}
    for column, value in widest.items():
        moved = step(column, "exit", old_exit[column], value, smoothing, quiet=quiet)
        pick = max if column in LOWER_IS_BETTER else min
        exit_[column] = pick(moved, value)
    return make_thresholds(entry, exit_)


def step(
    column: str, side: str, old: float, new: float, policy: SmoothingPolicy, *, quiet: bool = False
) -> float:
    """Move one level from ``old`` toward ``new`` (see :class:`SmoothingPolicy`); ``quiet``
    keeps ``old`` where the move would change someone's membership."""
    scale = abs(old) if old else 1.0
    change = new - old
    if abs(change) <= policy.dead_band * scale:
        return old
    direction = 1 if change > 0 else -1
    # up moves nobody for an entry level of a higher-is-better feature and for an exit level of
    # a lower-is-better one (recency); down moves nobody for the other two
    free_up = (side == "entry") != (column in LOWER_IS_BETTER)
    free = (direction == 1) == free_up
    if quiet and not free:
        return old
    bound = policy.max_free_step if free else policy.max_step
    distance = min(abs(change), bound * scale)
    if column in INTEGER_FEATURES:
        # whole units; a free move goes at least one unit, a move that shifts people never
        # goes past its bound
        distance = max(1, math.floor(distance)) if free else math.floor(distance)
        return old + direction * min(distance, math.ceil(abs(change)))
    return round(old + direction * distance, 2)


# --- cluster identity -------------------------------------------------------------------------

INSIDERS_NAME = "Insiders"
INSIDERS_COLOR = "#d4a017"
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#ff7f0e", "#d62728", "#aec7e8", "#98df8a",
)


def cluster_profiles(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster label: size and the mean of each rule feature (index: label, sorted)."""
    frame = features.loc[:, list(FEATURE_COLUMNS)].assign(label=np.asarray(labels))
    grouped = frame.groupby("label", sort=True)
    profiles = grouped[list(FEATURE_COLUMNS)].mean()
    profiles.insert(0, "size", grouped.size().astype("int64"))
    return profiles


def profile_names(profile: pd.Series, population: pd.DataFrame) -> list[str]:
    """Readable names for a (non-Insiders) cluster from its mean features relative to all
    customers (how recently, how often and how much they buy), plainest first."""
    if profile["recency_days"] > max(180.0, population["recency_days"].quantile(0.75)):
        habit = "Lapsed"
    elif profile["invoice_quantity"] < 1.5:
        habit = "One-off"
    elif profile["invoice_quantity"] >= population["invoice_quantity"].quantile(0.75):
        habit = "Loyal"
    else:
        habit = "Occasional"
    revenue = profile["gross_revenue"]
    if revenue >= population["gross_revenue"].quantile(0.75):
        spend = "big spenders"
    elif revenue >= population["gross_revenue"].median():
        spend = "mid spenders"
    else:
        spend = "small buyers"
    base = f"{habit} {spend}"
    recent = "recent" if profile["recency_days"] <= population["recency_days"].median() else "older"
    ticket = ("high ticket" if profile["avg_ticket"] >= population["avg_ticket"].median()
              else "low ticket")
    return [base, f"{base}, {recent}", f"{base}, {ticket}", f"{base}, {recent}, {ticket}"]


def _unique(names: list[str], taken: set[str]) -> str:
    for name in names:
        if name not in taken:
            return name
    n = 2
    while f"{names[0]} {n}" in taken:
        n += 1
    return f"{names[0]} {n}"


def _free_color(taken: set[str]) -> str:
    for color in PALETTE:
        if color not in taken:
            return color
    return PALETTE[len(taken) % len(PALETTE)]


def match_clusters(
    new: pd.Series, old: pd.Series | None = None,
    new_profiles: pd.DataFrame | None = None, old_profiles: pd.DataFrame | None = None,
) -> dict[int, int]:
    """Map new cluster labels to old ones (one to one, Hungarian assignment).

    With ``old`` (labels of the customers the old version labelled, index customer_id), the
    assignment maximises the number of shared customers; otherwise it minimises the distance
    between cluster centroids (log-scaled mean features). Pairs sharing nobody stay unmatched.
    """
    from scipy.optimize import linear_sum_assignment

    if old is not None:
        both = new.index.intersection(old.index)
        if len(both):
            table = pd.crosstab(new.loc[both], old.loc[both])
            rows, cols = linear_sum_assignment(-table.to_numpy())
            return {int(table.index[r]): int(table.columns[c])
                    for r, c in zip(rows, cols, strict=True) if table.iat[r, c] > 0}
    if new_profiles is None or old_profiles is None or old_profiles.empty:
        return {}
    a = np.log1p(new_profiles[list(FEATURE_COLUMNS)].clip(lower=0).to_numpy())
    b = np.log1p(old_profiles[list(FEATURE_COLUMNS)].clip(lower=0).to_numpy())
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    return {int(new_profiles.index[r]): int(old_profiles.index[c])
            for r, c in zip(rows, cols, strict=True)}


def cluster_identities(
    features: pd.DataFrame,
    labels: np.ndarray,
    insiders_label: int,
    previous: list[dict] | None = None,
    mapping: dict[int, int] | None = None,
    n_components: int | None = None,
) -> list[dict]:
    """One record per model label: stable ``cluster`` id, ``name``, ``color``, ``is_insiders``.

    Components of the model (``n_components``) that no fitted customer fell in get a record too,
    as scoring may place customers there.

    ``previous`` holds the old version's records and ``mapping`` the new labels matched to their
    stable ids; matched clusters inherit id, name and colour. The cluster chosen by the value rule
    (``insiders_label``: highest mean revenue) is always "Insiders": if another new cluster
    matched the old Insiders, the two swap identities.
    """
    profiles = cluster_profiles(features, labels)
    previous = previous or []
    by_id = {int(r["cluster"]): r for r in previous}
    mapping = {k: v for k, v in (mapping or {}).items() if v in by_id}
    old_insiders = next((int(r["cluster"]) for r in previous if r["is_insiders"]), None)
    holder = next((k for k, v in mapping.items() if v == old_insiders), None)
    if holder is not None and holder != insiders_label:
        mapping[holder], mapping[insiders_label] = mapping.get(insiders_label), old_insiders
        if mapping[holder] is None:
            del mapping[holder]
    elif old_insiders is not None and holder is None:
        mapping[insiders_label] = old_insiders
    next_id = max(by_id, default=-1) + 1
    inherited = [by_id[v] for v in mapping.values()]
    names = {INSIDERS_NAME, *(r["name"] for r in inherited)}
    colors = {INSIDERS_COLOR, *(r["color"] for r in previous)}
    records = []
    order = profiles.sort_values("gross_revenue", ascending=False, kind="stable").index
    for label in order:
        label = int(label)
        record = {"model_cluster": label, "is_insiders": label == insiders_label,
                  "profile": {c: float(profiles.at[label, c]) for c in FEATURE_COLUMNS}}
        if label in mapping:
            old = by_id[mapping[label]]
            record.update(cluster=int(old["cluster"]), name=old["name"], color=old["color"])
        elif previous:
            record["cluster"], next_id = next_id, next_id + 1
        else:
            record["cluster"] = label
        if record["is_insiders"]:
            record.update(name=INSIDERS_NAME, color=INSIDERS_COLOR)
        elif "name" not in record or record["name"] == INSIDERS_NAME:
            record["name"] = _unique(profile_names(profiles.loc[label], features), names)
            record["color"] = _free_color(colors)
        names.add(record["name"])
        colors.add(record["color"])
        records.append(record)
    for label in sorted(set(range(n_components or 0)) - set(profiles.index.astype(int))):
        cluster, next_id = (next_id, next_id + 1) if previous else (label, next_id)
        name = _unique(["Unplaced"], names)
        color = _free_color(colors)
        names.add(name)
        colors.add(color)
        records.append({"model_cluster": label, "is_insiders": False, "profile": {},
                        "cluster": cluster, "name": name, "color": color})
    return sorted(records, key=lambda r: r["cluster"])


# --- the versioned model and the state directory ----------------------------------------------

FORMAT_VERSION = 1
STATE_FILE = "state.json"
LABELS_FILE = "labels.csv"
EVENTS_FILE = "events.csv"


@dataclass
class ModelState:
    """A fitted, versioned model: the segmentation model with the thresholds, cluster names and
    colours it implies. Scheduled runs score with it; a refit makes version + 1."""

    version: int
    fitted_as_of: dt.date
    parameters: dict
    thresholds: dict
    clusters: list[dict]
    metrics: dict
    model: Any = None

    def to_bytes(self) -> bytes:
        """The artifact stored with the version (pickle, with a format number)."""
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        payload["format"] = FORMAT_VERSION
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelState:
        """Load an artifact written by :meth:`to_bytes` (PipelineInputError if it is not one)."""
        try:
            payload = pickle.loads(data)
        except Exception as exc:
            raise PipelineInputError(f"not a model artifact ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise PipelineInputError(
                f"model artifact format {found!r} is not supported (expected {FORMAT_VERSION})"
            )
        payload.pop("format")
        return cls(**payload)

    def stable_ids(self, model_labels: np.ndarray) -> np.ndarray:
        """The stable cluster ids of the model's labels."""
        lookup = {int(r["model_cluster"]): int(r["cluster"]) for r in self.clusters}
        return pd.Series(np.asarray(model_labels)).map(lookup).to_numpy(dtype="int64")

    def summary(self) -> dict:
        """JSON-safe description (everything but the fitted model)."""
        return {
            "version": self.version,
            "fitted_as_of": self.fitted_as_of.isoformat(),
            "parameters": self.parameters,
            "thresholds": self.thresholds,
            "clusters": self.clusters,
            "metrics": self.metrics,
        }


def save_state_dir(
    directory: str | Path, state: ModelState, labels: pd.DataFrame,
    events: pd.DataFrame | None = None,
) -> Path:
    """Keep the model version and the latest membership in ``directory`` (created if needed):
    ``model-vNNNN.bin`` (every version), ``state.json`` (the current one, readable),
    ``labels.csv`` (the latest labels) and ``events.csv`` (the latest run's events)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_file = f"model-v{state.version:04d}.bin"
    (directory / model_file).write_bytes(state.to_bytes())
    labels.to_csv(directory / LABELS_FILE, index_label="customer_id")
    if events is not None:
        table = events.assign(details=[json.dumps(d, sort_keys=True) for d in events["details"]])
        table.to_csv(directory / EVENTS_FILE, index=False)
    description = {**state.summary(), "model_file": model_file}
    (directory / STATE_FILE).write_text(json.dumps(description, indent=2, default=str) + "\n")
    return directory


def load_state_dir(directory: str | Path) -> tuple[ModelState | None, pd.DataFrame | None]:
    """The current model version and latest labels kept in ``directory`` (None, None if empty)."""
    directory = Path(directory)
    pointer = directory / STATE_FILE
    if not pointer.exists():
        return None, None
    try:
        model_file = json.loads(pointer.read_text())["model_file"]
        state = ModelState.from_bytes((directory / model_file).read_bytes())
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineInputError(f"{directory}: not a readable state directory ({exc})") from exc
    labels_path = directory / LABELS_FILE
    labels = None
    if labels_path.exists():
        labels = pd.read_csv(labels_path, index_col="customer_id")
        labels["is_insiders"] = labels["is_insiders"].astype(bool)
    return state, labels
