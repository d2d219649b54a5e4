"""A run's customer index and map points, made once when the run is published.

At a million customers, comparing two runs (who entered and left Insiders, how many moved
between clusters) or drawing a run's map reads a million labels each: seconds in the database.
So the worker stores two files with each published run (:mod:`store.run_files`):

- its customer index (:class:`pipeline.run_compare.CustomerIndex`): every customer's id, cluster
  and Insiders flag, the ids as gaps so that a million of them compress to about a megabyte,
  right after the publication; the dashboard reads a run without one (a worker stopped in
  between) from its labels;
- its map points: the rows the Overview's map shows (:func:`map_query`), in the publication's
  transaction, from the staged labels: the spans the labels become keep no map coordinates;
- its summary: how many customers and Insiders, their revenue and mean figures
  (:func:`summary_query`), in the publication's transaction too: read through the spans, a
  million customers' sums took most of a second.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, case, func, or_, select

from pipeline.columns import FEATURE_COLUMNS
from pipeline.run_compare import CustomerIndex
from store import bulk, run_files
from store.labels import LabelStage
from store.schema import CustomerLabel

INDEX_FILE = "customer-index.npz"
MAP_FILE = "map-points.npz"
SUMMARY_FILE = "summary.json"
_COUNTS = ("customers", "insiders")
MAX_MAP_POINTS = 30_000
_MAP_SIZE = ("n_customers", "max_points")  # what a map file was drawn for, kept in it


def sample_steps(n_customers: int | None, n_insiders: int | None,
                 max_points: int) -> tuple[int, int]:
    """Every how many customer ids a map keeps a customer, and an Insider: every one up to
    ``max_points`` customers; above, about ``max_points`` customers plus Insiders up to half
    as many (all of them while they are fewer), so that the highlighted group shows well."""
    if not n_customers or n_customers <= max_points:
        return 1, 1
    # at a million customers the Insiders alone (100,000) would fill the map, and its file
    # would be three times the size
    most_insiders = max(max_points // 2, 1)
    return -(-n_customers // max_points), max(-(-(n_insiders or 0) // most_insiders), 1)


def map_query(run_id: int, n_customers: int | None, max_points: int = MAX_MAP_POINTS,
              n_insiders: int | None = None) -> Select:
    """The map points of a staged run of ``n_customers`` (``n_insiders`` of them Insiders;
    every Insider is a candidate when not given): every customer up to ``max_points``, above
    a deterministic sample by customer id (:func:`sample_steps`)."""
    label = LabelStage
    query = select(
        label.customer_id, label.cluster, label.is_insiders, label.embedding_x,
        label.embedding_y, *[getattr(label, name) for name in FEATURE_COLUMNS],
    ).where(label.run_id == run_id).order_by(label.customer_id)
    step, insiders_step = sample_steps(n_customers, n_insiders, max_points)
    if step > 1:
        insiders = (label.is_insiders if insiders_step == 1
                    else and_(label.is_insiders, label.customer_id % insiders_step == 0))
        query = query.where(or_(label.customer_id % step == 0, insiders))
    return query


def summary_query(label: type[CustomerLabel] | type[LabelStage], run_id: int) -> Select:
    """Count, revenue and means of a run's customers and of its Insiders, in one pass, from
    its published labels (:class:`CustomerLabel`) or its staged ones."""
    insider = label.is_insiders
    return select(
        func.count().label("customers"),
        func.sum(case((insider, 1), else_=0)).label("insiders"),
        func.avg(label.gross_revenue).label("mean_revenue_all"),
        func.avg(label.avg_ticket).label("mean_ticket_all"),
        func.sum(label.gross_revenue).label("revenue_all"),
        # the Insiders' figures in the same scan (aggregate FILTER), not a second query
        func.avg(label.gross_revenue).filter(insider).label("mean_revenue"),
        func.avg(label.avg_ticket).filter(insider).label("mean_ticket"),
        func.sum(label.gross_revenue).filter(insider).label("revenue"),
    ).where(label.run_id == int(run_id))


def write_summary(connection: Connection, run_id: int,
                  source: type[CustomerLabel] | type[LabelStage] = LabelStage) -> dict:
    """Store run ``run_id``'s summary from its staged labels (or ``source``'s), in the
    caller's transaction; returns it."""
    row = connection.execute(summary_query(source, run_id)).mappings().one()
    summary = {key: (None if value is None else int(value) if key in _COUNTS else float(value))
               for key, value in row.items()}
    run_files.store_bytes(connection, run_id, SUMMARY_FILE, json.dumps(summary).encode())
    return summary


def read_summary(engine: Engine, run_id: int) -> dict | None:
    """Run ``run_id``'s stored summary, or None when it has none (a run published before)."""
    payload = run_files.read_bytes(engine, run_id, SUMMARY_FILE)
    return None if payload is None else json.loads(payload)


def encode_index(index: CustomerIndex) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, gaps=np.diff(index.customer_id, prepend=0),
             cluster=index.cluster.astype("int32"), is_insiders=index.is_insiders)
    return buffer.getvalue()


def decode_index(payload: bytes) -> CustomerIndex:
    with np.load(io.BytesIO(payload)) as arrays:
        return CustomerIndex(customer_id=np.cumsum(arrays["gaps"], dtype="int64"),
                             cluster=arrays["cluster"].astype("int64"),
                             is_insiders=arrays["is_insiders"].astype(bool))


def encode_points(points: pd.DataFrame, n_customers: int | None, max_points: int) -> bytes:
    buffer = io.BytesIO()
    columns = {f"column_{i}": points[name].to_numpy() for i, name in enumerate(points.columns)}
    np.savez(buffer, names=np.array(list(points.columns)),
             size=np.array([n_customers or 0, max_points], dtype="int64"), **columns)
    return buffer.getvalue()


def decode_points(payload: bytes) -> tuple[pd.DataFrame, dict]:
    """The points and what they were drawn for (``n_customers``, ``max_points``)."""
    with np.load(io.BytesIO(payload)) as arrays:
        names = [str(name) for name in arrays["names"]]
        frame = pd.DataFrame({name: arrays[f"column_{i}"] for i, name in enumerate(names)})
        size = dict(zip(_MAP_SIZE, (int(v) for v in arrays["size"]), strict=True))
    return frame, size


def write(engine: Engine, run_id: int) -> int:
    """Build and store run ``run_id``'s customer index from its labels; returns the bytes
    stored."""
    return run_files.write_bytes(engine, run_id, INDEX_FILE,
                                 encode_index(build_index(engine, run_id)))


def write_points(connection: Connection, run_id: int, n_customers: int, n_insiders: int,
                 max_points: int = MAX_MAP_POINTS) -> int:
    """Store the map points (at most about ``max_points``) of staged run ``run_id`` of
    ``n_customers`` (``n_insiders`` of them Insiders), in the caller's transaction; returns the
    bytes stored."""
    points = bulk.frame_in(connection, map_query(int(run_id), n_customers, max_points,
                                                 n_insiders))
    return run_files.store_bytes(connection, run_id, MAP_FILE,
                                 encode_points(points, n_customers, max_points))


def build_index(engine: Engine, run_id: int) -> CustomerIndex:
    """Run ``run_id``'s customer index, from its labels."""
    label = CustomerLabel
    return CustomerIndex.from_frame(bulk.read_frame(
        engine, select(label.customer_id, label.cluster, label.is_insiders)
        .where(label.run_id == int(run_id))))


def read_index(engine: Engine, run_id: int) -> CustomerIndex | None:
    """Run ``run_id``'s customer index, or None when it has none stored."""
    payload = run_files.read_bytes(engine, run_id, INDEX_FILE)
    return None if payload is None else decode_index(payload)


def read_points(engine: Engine, run_id: int, n_customers: int | None,
                max_points: int) -> pd.DataFrame | None:
    """Run ``run_id``'s stored map points if they were drawn for ``n_customers`` and
    ``max_points`` (or hold every customer, and are thinned as they would have been), else
    None."""
    payload = run_files.read_bytes(engine, run_id, MAP_FILE)
    if payload is None:
        return None
    points, size = decode_points(payload)
    if size == {"n_customers": n_customers or 0, "max_points": max_points}:
        return points
    if size["n_customers"] != (n_customers or 0) or size["n_customers"] > size["max_points"]:
        return None
    ids, insiders = points["customer_id"].to_numpy(), points["is_insiders"].to_numpy(dtype=bool)
    step, insiders_step = sample_steps(n_customers, int(insiders.sum()), max_points)
    keep = (ids % step == 0) | (insiders & (ids % insiders_step == 0))
    return points[keep].reset_index(drop=True)
