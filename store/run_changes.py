"""A run's entries and exits against the run before it, made once when the run is published.

Each membership event of the run, with the customer's cluster and key figures in the run it was
measured against and in its own, plus the Insiders who left by no longer being in the run (they
have no event): what the Changes page and the API show between two consecutive runs. Reading one
run's changes by joining its events to two runs' labels takes about a second at a million
customers (tens of thousands of events, two primary-key probes each); the file is one read. The
dashboard reads a run without it (published before it, or by a worker stopped in between) as
before. The reasons are also stored worded, in the currency of the worker's settings, so that
the dashboard words tens of thousands of them only when its currency differs.
"""

from __future__ import annotations

import io
import json

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, Select, String, and_, cast, select
from sqlalchemy.orm import Session

from pipeline.reasons import plain_reasons
from pipeline.run_compare import CustomerIndex, moved
from store import bulk, run_files, run_index, runs
from store.schema import CustomerLabel, MembershipEvent, Run

CHANGES_FILE = "changes.parquet"
KEY_FEATURES = ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")
PROBE_ROWS = 10_000  # customers read by primary key per statement
COLUMNS = ("customer_id", "kind", "event_run", "cluster_before", "cluster_after",
           *[f"before_{f}" for f in KEY_FEATURES], *[f"after_{f}" for f in KEY_FEATURES],
           "cause", "reason", "details")


def stored_details(texts: list) -> list[dict | None]:
    """Events' details read as JSON text, as dicts (None where there are none)."""
    return [_details(text) if isinstance(text, str) else None for text in texts]


def _details(text: str) -> dict:
    try:
        return orjson.loads(text)  # a few times faster than json over thousands of events
    except orjson.JSONDecodeError:  # NaN, which json writes and SQLite keeps
        return json.loads(text)


def side_columns(alias, prefix: str) -> list:
    """The key figures of a labels table ``alias``, named ``{prefix}_{figure}``."""
    return [getattr(alias.c, f).label(f"{prefix}_{f}") for f in KEY_FEATURES]


def events_query(run_ids: list[int]) -> Select:
    """Every event of ``run_ids`` with the customer's figures in its run and in the run it was
    measured against (primary-key probes into the labels); details as JSON text."""
    ev = MembershipEvent.__table__
    labels = CustomerLabel.__table__
    before, after = labels.alias("before"), labels.alias("after")
    return (
        select(
            ev.c.customer_id, ev.c.kind, ev.c.run_id.label("event_run"),
            before.c.cluster.label("cluster_before"), after.c.cluster.label("cluster_after"),
            *side_columns(before, "before"), *side_columns(after, "after"), ev.c.cause, ev.c.reason,
            # details as text: every column then has a plain type and PostgreSQL can COPY them
            cast(ev.c.details, String).label("details"),
        )
        .select_from(
            ev.outerjoin(after, and_(after.c.run_id == ev.c.run_id,
                                     after.c.customer_id == ev.c.customer_id))
            .outerjoin(before, and_(before.c.run_id == ev.c.previous_run_id,
                                    before.c.customer_id == ev.c.customer_id))
        )
        .where(ev.c.run_id.in_(run_ids))
    )


def figures(engine: Engine, run_from: int, run_to: int, ids: np.ndarray) -> pd.DataFrame:
    """For the customers ``ids`` (ascending), their cluster and key figures in both runs
    (``cluster_before``, ``before_...``, ``cluster_after``, ``after_...``; missing where a run
    does not have the customer)."""
    both = pd.DataFrame({"customer_id": np.asarray(ids, dtype="int64")})
    for run_id, side in ((run_from, "before"), (run_to, "after")):
        figures = _figures(engine, run_id, both["customer_id"].to_numpy())
        figures.columns = ["customer_id", f"cluster_{side}",
                           *[f"{side}_{f}" for f in KEY_FEATURES]]
        both = both.merge(figures, how="left", on="customer_id")
    return both[["customer_id", "cluster_before", "cluster_after",
                 *[f"before_{f}" for f in KEY_FEATURES], *[f"after_{f}" for f in KEY_FEATURES]]]


def _figures(engine: Engine, run_id: int, ids: np.ndarray) -> pd.DataFrame:
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


def build(engine: Engine, run_id: int) -> tuple[pd.DataFrame, int] | None:
    """Run ``run_id``'s changes and the run they are against; None for a first run."""
    with Session(engine) as session:
        run = session.get(Run, int(run_id))
        previous = runs.previous_run(session, run.as_of, run.id) if run else None
        previous_id = previous.id if previous else None
    if previous_id is None:
        return None
    events = bulk.read_frame(engine, events_query([int(run_id)]), probe=True)
    older, newer = (_index(engine, r) for r in (previous_id, run_id))
    silent = []
    for kind, ids in zip(("entered", "exited"), moved(older, newer), strict=True):
        known = events.loc[events["kind"] == kind, "customer_id"]
        ids = np.setdiff1d(ids, known.to_numpy(dtype="int64"))
        if len(ids):  # moved without an event: left by no longer being in the run
            silent.append(figures(engine, previous_id, run_id, ids).assign(kind=kind))
    changes = pd.concat([events, *silent], ignore_index=True) if silent else events
    changes = changes.reindex(columns=list(COLUMNS))
    order = np.lexsort((changes["customer_id"].to_numpy(), changes["kind"].to_numpy()))
    return changes.iloc[order].reset_index(drop=True), previous_id


def _index(engine: Engine, run_id: int) -> CustomerIndex:
    stored = run_index.read_index(engine, run_id)
    return stored if stored is not None else run_index.build_index(engine, run_id)


def write(engine: Engine, run_id: int, currency: str = "£") -> int:
    """Build and store run ``run_id``'s changes, their reasons also worded in ``currency``
    (``plain_cause``, ``plain_reason``, ``cause_help``); returns the bytes stored (0 for a
    first run, which has none)."""
    built = build(engine, run_id)
    if built is None:
        return 0
    changes, previous_id = built
    worded = plain_reasons(changes[["kind", "cause", "reason"]].assign(
        details=stored_details(changes["details"].tolist())), currency)
    changes["plain_cause"] = worded["cause"]
    changes["plain_reason"] = worded["reason"]
    changes["cause_help"] = worded["cause_help"]
    table = pa.Table.from_pandas(changes, preserve_index=False).replace_schema_metadata(
        {"previous_run_id": str(previous_id), "currency": currency})
    buffer = io.BytesIO()
    # Parquet's own zstd: as small as gzip over the file, and read five times faster
    pq.write_table(table, buffer, compression="zstd")
    return run_files.write_bytes(engine, run_id, CHANGES_FILE, buffer.getvalue(),
                                 compress=False)


def read(engine: Engine, run_id: int) -> tuple[pd.DataFrame, int, str] | None:
    """Run ``run_id``'s stored changes, the run they are against and the currency their
    reasons are worded in; or None."""
    payload = run_files.read_bytes(engine, run_id, CHANGES_FILE)
    if payload is None:
        return None
    table = pq.read_table(io.BytesIO(payload))
    metadata = table.schema.metadata
    return (table.to_pandas(), int(metadata[b"previous_run_id"]),
            metadata[b"currency"].decode("utf-8"))
