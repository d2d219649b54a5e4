"""The dashboard's reads of one customer across runs: their cluster and figures in each run,
their entries and exits with the reasons, and the thresholds each run used.

Part of the data layer beside ``dashboard/data.py`` (the customer page and the API's customer
read through here) and like it: every function takes an optional engine (default: the app's).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, and_, select

from dashboard import data
from dashboard.config import app_engine
from dashboard.history import plain_reasons
from pipeline.identity import display_color, display_name
from store import bulk
from store.schema import SUCCEEDED, Cluster, CustomerLabel, MembershipEvent, ModelVersion, Run


def _rows(engine: Engine | None, query) -> list[dict]:
    with app_engine(engine).connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def customer_history(customer_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The customer's cluster, flag and features in every succeeded run, oldest first."""
    lab = CustomerLabel
    query = (
        select(
            Run.id.label("run_id"), Run.as_of, Run.model_version, lab.cluster,
            Cluster.name.label("cluster_name"), Cluster.color, lab.is_insiders,
            *data.LABEL_FEATURES,
        )
        .select_from(lab)
        .join(Run, Run.id == lab.run_id)
        .outerjoin(Cluster, and_(Cluster.run_id == lab.run_id, Cluster.cluster == lab.cluster))
        .where(lab.customer_id == customer_id, Run.status == SUCCEEDED)
        .order_by(Run.as_of, Run.id)
    )
    history = bulk.read_frame(app_engine(engine), query)
    history["cluster_name"] = [display_name(n) for n in history["cluster_name"]]
    history["color"] = [display_color(c) for c in history["color"]]
    return history


def customer_events(customer_id: int, engine: Engine | None = None) -> list[dict]:
    """The customer's entries and exits in succeeded runs, oldest first, each with its reason
    as a sentence and its cause in words."""
    ev = MembershipEvent
    query = (
        select(ev.run_id, Run.as_of, ev.kind, ev.cause, ev.reason, ev.details)
        .join(Run, Run.id == ev.run_id)
        .where(ev.customer_id == customer_id, Run.status == SUCCEEDED)
        .order_by(Run.as_of, Run.id)
    )
    rows = _rows(engine, query)
    if rows:
        plain = plain_reasons(pd.DataFrame(rows))
        for row, reason, cause in zip(rows, plain["reason"], plain["cause"], strict=True):
            row["reason"], row["cause"] = reason, cause
    return rows


def run_thresholds(run: dict, engine: Engine | None = None) -> dict:
    """The thresholds a run used, in the pipeline's format ({"entry": {feature: {"op",
    "value"}}, "exit": {...}}): from its report if stored there, else its model version."""
    report = data.run_report(run["id"], engine) if "report" not in run else (run["report"] or {})
    if report.get("thresholds"):
        return report["thresholds"]
    version = run.get("model_version")
    if version is None:
        return {}
    query = select(ModelVersion.thresholds).where(ModelVersion.version == version).limit(1)
    rows = _rows(engine, query)
    return (rows[0]["thresholds"] if rows else None) or {}


def thresholds_by_run(run_ids: list[int], engine: Engine | None = None) -> dict[int, dict]:
    """``run_thresholds`` of each run in ``run_ids``, by run id, read in one query (a
    customer's history spans every run)."""
    if not run_ids:
        return {}
    query = (
        select(Run.id, Run.report["thresholds"].label("reported"),
               ModelVersion.thresholds.label("versioned"))
        .outerjoin(ModelVersion, ModelVersion.version == Run.model_version)
        .where(Run.id.in_([int(i) for i in run_ids]))
    )
    return {row["id"]: row["reported"] or row["versioned"] or {} for row in _rows(engine, query)}
