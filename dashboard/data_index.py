"""Two runs compared through the customer indexes stored with each published run
(:mod:`store.run_index`).

Part of the data layer: ``dashboard.data`` asks here first and reads the labels only for a run
published without these files. At a million customers a comparison then reads two indexes of
about a megabyte and the labels of the customers who moved, instead of joining two runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from pipeline.run_compare import CustomerIndex, moved, transitions
from store import bulk, run_index
from store.schema import CustomerLabel

KEY_FEATURES = ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")
PROBE_ROWS = 10_000  # customers read by primary key per statement


def indexes(run_from: int, run_to: int,
            engine: Engine) -> tuple[CustomerIndex, CustomerIndex] | None:
    """Both runs' customer indexes, or None when either has none stored."""
    with ThreadPoolExecutor(2) as pool:
        older, newer = pool.map(lambda run_id: run_index.read_index(engine, run_id),
                                (run_from, run_to))
    return None if older is None or newer is None else (older, newer)


def cluster_moves(run_from: int, run_to: int, engine: Engine) -> pd.DataFrame | None:
    """``data.transitions`` from the stored indexes, or None when a run has none."""
    pair = indexes(run_from, run_to, engine)
    return None if pair is None else transitions(*pair)


def insiders_moves(run_from: int, run_to: int, engine: Engine) -> dict[str, pd.DataFrame] | None:
    """Per kind ("entered", "exited"), the customers who moved, as ``data._moves_query``
    gives them (clusters and key figures before and after, missing where a run does not have
    the customer), by customer id; None when a run has no stored index."""
    pair = indexes(run_from, run_to, engine)
    if pair is None:
        return None
    entered, exited = moved(*pair)
    both = figures(run_from, run_to, np.union1d(entered, exited), engine)
    return {kind: both[both["customer_id"].isin(members)].reset_index(drop=True)
            for kind, members in (("entered", entered), ("exited", exited))}


def figures(run_from: int, run_to: int, ids: np.ndarray, engine: Engine) -> pd.DataFrame:
    """For the customers ``ids`` (ascending), their cluster and key figures in both runs
    (``cluster_before``, ``before_...``, ``cluster_after``, ``after_...``; missing where a run
    does not have the customer)."""
    with ThreadPoolExecutor(2) as pool:
        before, after = pool.map(lambda run_id: _figures(run_id, ids, engine),
                                 (run_from, run_to))
    both = (pd.DataFrame({"customer_id": np.asarray(ids, dtype="int64")})
            .merge(before.add_prefix("before_").rename(columns=_unprefixed), how="left",
                   on="customer_id")
            .merge(after.add_prefix("after_").rename(columns=_unprefixed), how="left",
                   on="customer_id"))
    return both[["customer_id", "cluster_before", "cluster_after",
                 *[f"before_{f}" for f in KEY_FEATURES], *[f"after_{f}" for f in KEY_FEATURES]]]


def _unprefixed(name: str) -> str:
    prefix, _, rest = name.partition("_")
    if rest == "customer_id":
        return rest
    return f"cluster_{prefix}" if rest == "cluster" else name


def _figures(run_id: int, ids: np.ndarray, engine: Engine) -> pd.DataFrame:
    """Cluster and key figures in run ``run_id`` of the customers ``ids`` it has."""
    label = CustomerLabel
    columns = [label.customer_id, label.cluster, *[getattr(label, f) for f in KEY_FEATURES]]
    parts = [
        bulk.read_frame(engine, select(*columns).where(
            label.run_id == int(run_id),
            label.customer_id.in_([int(i) for i in ids[start:start + PROBE_ROWS]])),
            probe=True, serial=True)
        for start in range(0, len(ids), PROBE_ROWS)
    ]
    if not parts:
        return pd.DataFrame({column.key: pd.Series(dtype="float64") for column in columns})
    return pd.concat(parts, ignore_index=True)

