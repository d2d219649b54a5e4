"""Two runs compared through the files stored with each published run: customer indexes
(:mod:`store.run_index`) and each run's changes against the run before it
(:mod:`store.run_changes`).

Part of the data layer: ``dashboard.data`` asks here first and reads the labels only for a run
published without these files. At a million customers a comparison then reads two indexes of
about a megabyte and the labels of the customers who moved, instead of joining two runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from dashboard.history import stored_details
from pipeline.run_compare import CustomerIndex, moved, transitions
from store import run_changes, run_index

PROBE_ROWS = run_changes.PROBE_ROWS


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
    both = run_changes.figures(engine, run_from, run_to, np.union1d(entered, exited))
    return {kind: both[both["customer_id"].isin(members)].reset_index(drop=True)
            for kind, members in (("entered", entered), ("exited", exited))}


WORDED = ("plain_cause", "plain_reason", "cause_help")  # the stored reasons in words


def stored_changes(run_from: int, run_to: int, currency: str,
                   engine: Engine) -> tuple[pd.DataFrame, bool] | None:
    """The entries and exits of run ``run_to`` against ``run_from`` as stored with it when it
    was published, with ``data.changes``'s columns, and whether their reasons are in words
    (stored in ``currency``: ``plain_reasons``'s columns, no details) or still to be worded
    from their details; None when it has none stored or they are against another run."""
    stored = run_changes.read(engine, run_to)
    if stored is None or stored[1] != run_from:
        return None
    changes = stored[0]
    event = ["event_run", "cause", "reason", "details"]
    changes = changes[[*[c for c in changes.columns if c not in event], *event]]
    return _worded(changes, stored[2] == currency)


def stored_events(run_ids: list[int], currency: str,
                  engine: Engine) -> tuple[pd.DataFrame, bool] | None:
    """Every event of ``run_ids`` with the figures before and after, from the changes stored
    with each run (``data_period``'s rows), and whether their reasons are in words already
    (as ``stored_changes``); None when a run has none stored."""
    parts, worded = [], True
    for run_id in run_ids:
        stored = run_changes.read(engine, run_id)
        if stored is None:
            return None
        parts.append(stored[0][stored[0]["cause"].notna()])  # the runs' own events
        worded = worded and stored[2] == currency
    return _worded(pd.concat(parts, ignore_index=True), worded)


def _worded(frame: pd.DataFrame, worded: bool) -> tuple[pd.DataFrame, bool]:
    """The frame with its stored words, or (not ``worded``) its details read for wording:
    JSON is parsed only then (tens of thousands of details take a third of a second)."""
    words = frame[list(WORDED)]
    frame = frame.drop(columns=list(WORDED))
    if worded:
        frame = frame.drop(columns="details")
        frame["cause"], frame["reason"] = words["plain_cause"], words["plain_reason"]
        frame["cause_help"] = words["cause_help"]
    else:
        frame["details"] = stored_details(frame["details"].tolist())
    return frame, worded
