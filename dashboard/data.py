"""The dashboard's reads of run results: SQLAlchemy Core selects, plain dicts and frames out.

Page callbacks read runs, clusters, customers and the audit log only through here and the
modules beside it (``data_customer``: one customer across runs; ``data_period``: changes by
period; ``data_forecasts``: looking ahead); accounts are read by ``dashboard.auth`` and
``dashboard.login`` through ``store.users``, and the one write, an admin's run request, goes
through ``store.queue``. Every function takes an optional engine (default: the app's,
``config.app_engine``), so callbacks never hold one or write SQL.

A run id that comes from the browser is checked with ``succeeded_id`` before it reaches any
read or the cache: only a succeeded run never changes.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sqlalchemy import Engine, String, and_, cast, false, func, or_, select, true
from sqlalchemy.orm import Session

from dashboard import data_index
from dashboard.cache import kept, per_run, remember
from dashboard.config import app_engine
from dashboard.history import currency, plain_reasons, stored_details
from pipeline.columns import FEATURE_COLUMNS
from pipeline.exports import changes_filename, changes_table, to_csv
from pipeline.identity import display_color, display_name
from store import bulk, run_index, runs
from store.run_changes import KEY_FEATURES, side_columns
from store.schema import (
    SUCCEEDED,
    AuditEntry,
    Cluster,
    CustomerLabel,
    MembershipEvent,
    Run,
)

# ~30k points keep the map readable, its JSON near 1.5 MB and a cold read well under 300 ms
MAX_SCATTER_POINTS = run_index.MAX_MAP_POINTS
RUN_COLUMNS = (
    Run.id, Run.status, Run.trigger, Run.requested_by, Run.as_of, Run.refit, Run.queued_at,
    Run.started_at, Run.finished_at, Run.heartbeat_at, Run.progress_stage, Run.progress_percent,
    Run.error, Run.model_version, Run.n_customers, Run.n_insiders, Run.insiders_share,
    Run.revenue_share, Run.silhouette,
)
LABEL_FEATURES = [getattr(CustomerLabel, name) for name in FEATURE_COLUMNS]


def _rows(engine: Engine | None, query) -> list[dict]:
    with app_engine(engine).connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _one(engine: Engine | None, query) -> dict | None:
    rows = _rows(engine, query.limit(1))
    return rows[0] if rows else None


def _frame(engine: Engine | None, query, probe: bool = False) -> pd.DataFrame:
    return bulk.read_frame(app_engine(engine), query, probe=probe)


# ---- runs (the look-ups themselves are store.runs') --------------------------------------


def _as_dict(run: Run | None, *extra: str) -> dict | None:
    names = [column.key for column in RUN_COLUMNS] + list(extra)
    return None if run is None else {name: getattr(run, name) for name in names}


def _run(engine: Engine | None, find, *extra: str) -> dict | None:
    with Session(app_engine(engine)) as session:
        return _as_dict(find(session), *extra)


def current_run(engine: Engine | None = None) -> dict | None:
    """The succeeded run with the greatest (as_of, id): what every page shows."""
    return _run(engine, runs.current_run)


def get_run(run_id: int, engine: Engine | None = None) -> dict | None:
    """The run, its report included; a succeeded run is read once (it never changes)."""
    engine = app_engine(engine)
    run = kept("succeeded_run", (run_id,), engine) or _run(
        engine, lambda session: runs.get_run(session, run_id), "report")
    if run and run["status"] == SUCCEEDED:
        remember("succeeded_run", (run_id,), lambda: run, engine)
    return run and {**run, "report": copy.deepcopy(run["report"])}


def succeeded_id(value: object, engine: Engine | None = None) -> int | None:
    """``value`` (from the browser) as the id of a succeeded run, else None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        run_id = int(value)
    except ValueError:
        return None
    return run_id if (get_run(run_id, engine) or {}).get("status") == SUCCEEDED else None


def run_report(run_id: int, engine: Engine | None = None) -> dict:
    return dict((get_run(run_id, engine) or {}).get("report") or {})


def previous_run(run_id: int, engine: Engine | None = None) -> dict | None:
    """The succeeded run just before ``run_id`` in (as_of, id) order."""
    run = get_run(run_id, engine)
    return run and _run(engine, lambda session: runs.previous_run(session, run["as_of"], run_id))


def succeeded_runs(engine: Engine | None = None) -> list[dict]:
    """Every succeeded run, oldest first (for pickers and trends)."""
    query = select(*RUN_COLUMNS).where(Run.status == SUCCEEDED).order_by(Run.as_of, Run.id)
    return _rows(engine, query)


def active_run(engine: Engine | None = None) -> dict | None:
    """The queued or running run, if any (there is at most one)."""
    return _run(engine, runs.active_run)


def latest_run(engine: Engine | None = None) -> dict | None:
    """The most recently queued run, whatever its status (to explain a failure)."""
    return _run(engine, lambda session: next(iter(runs.list_runs(session, limit=1)), None))


def run_history(limit: int = 200, engine: Engine | None = None) -> list[dict]:
    """The latest ``limit`` runs, newest first (their columns only, not their reports)."""
    return _rows(engine, select(*RUN_COLUMNS).order_by(Run.id.desc()).limit(limit))


# ---- clusters and customers of a run ----------------------------------------------------


@per_run(app_engine)
def clusters(run_id: int, engine: Engine | None = None) -> list[dict]:
    query = select(*Cluster.__table__.columns).where(Cluster.run_id == run_id)
    rows = _rows(engine, query.order_by(Cluster.cluster))
    for row in rows:
        row["name"], row["color"] = display_name(row["name"]), display_color(row["color"])
        row["insiders_members"] = int((row.get("profile") or {}).get("insiders_members") or 0)
    return rows


@per_run(app_engine)
def insiders_summary(run_id: int, engine: Engine | None = None) -> dict:
    """Count, mean revenue and mean ticket of the Insiders and of everyone: stored with the
    run when it was published, or for a run published before, read from its labels."""
    stored = run_index.read_summary(engine, run_id)
    if stored is None:
        stored = _one(engine, run_index.summary_query(CustomerLabel, run_id)) or {}
    summary = {k: (v if v is not None else 0) for k, v in stored.items()}
    total = summary.get("revenue_all") or 0
    summary["revenue_share"] = (summary.get("revenue") or 0) / total if total else 0.0
    customers = summary.get("customers") or 0
    summary["share"] = (summary.get("insiders") or 0) / customers if customers else 0.0
    return summary


@per_run(app_engine)
def embedding_sample(
    run_id: int, n_customers: int | None, max_points: int = MAX_SCATTER_POINTS,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Embedding points of a run; above ``max_points`` a deterministic sample by customer id
    (every Insider is kept so that the highlighted group is shown whole): the points stored
    with the run, or read from its labels for a run published without them."""
    stored = run_index.read_points(engine, run_id, n_customers, max_points)
    if stored is not None:
        return stored
    return _frame(engine, run_index.map_query(run_id, n_customers, max_points))


@per_run(app_engine)
def insiders_list(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The run's Insiders with their cluster and features, highest revenue first (then by
    customer id: sorted here, faster than by PostgreSQL for thousands of rows)."""
    query = (
        select(CustomerLabel.customer_id, CustomerLabel.cluster, *LABEL_FEATURES)
        .where(CustomerLabel.run_id == run_id, CustomerLabel.is_insiders)
    )
    frame = _frame(engine, query)
    order = np.lexsort((frame["customer_id"].to_numpy(),
                        -frame["gross_revenue"].to_numpy(dtype="float64")))
    return frame.iloc[order].reset_index(drop=True)


# ---- changes between two runs -----------------------------------------------------------

def _moves_query(run_from: int, run_to: int, kind: str):
    """Customers Insiders in one run and not in the other (absent counts as not)."""
    labels = CustomerLabel.__table__
    older, newer = labels.alias("older"), labels.alias("newer")
    inside, other = (newer, older) if kind == "entered" else (older, newer)
    inside_run, other_run = (run_to, run_from) if kind == "entered" else (run_from, run_to)
    return (
        select(
            inside.c.customer_id, older.c.cluster.label("cluster_before"),
            newer.c.cluster.label("cluster_after"),
            *side_columns(older, "before"), *side_columns(newer, "after"),
        )
        .select_from(
            inside.outerjoin(
                other, and_(other.c.customer_id == inside.c.customer_id,
                            other.c.run_id == other_run),
            )
        )
        .where(
            inside.c.run_id == inside_run,
            inside.c.is_insiders,
            or_(other.c.is_insiders.is_(None), other.c.is_insiders == false()),
        )
    )


def _moves(run_from: int, run_to: int, kind: str, run_ids: list[int],
           engine: Engine | None, indexed: dict | None) -> pd.DataFrame:
    """The moves of one kind with the customer's latest event of that kind in ``run_ids``
    (``indexed``: the moves found through the runs' customer indexes, when they have them)."""
    query = _moves_query(run_from, run_to, kind)
    stored = indexed.get(kind) if indexed else None
    frame = _frame(engine, query, probe=True) if stored is None else stored
    frame.insert(1, "kind", kind)
    moved = query if stored is None else frame["customer_id"].tolist()
    events = _events_for(kind, moved, run_ids, engine)
    if events.empty:
        for column in ("cause", "reason", "details", "event_run"):
            frame[column] = None
        return frame
    latest = events.sort_values("run_id").drop_duplicates("customer_id", keep="last")
    latest = latest.rename(columns={"run_id": "event_run"})
    return frame.merge(latest[["customer_id", "event_run", "cause", "reason", "details"]],
                       on="customer_id", how="left")


def runs_between(run_from: int, run_to: int, engine: Engine | None = None) -> list[dict]:
    """The succeeded runs after ``run_from`` up to ``run_to`` in (as_of, id) order, as
    {"id", "as_of"}; empty when ``run_to`` is not after ``run_from``."""
    a, b = get_run(run_from, engine), get_run(run_to, engine)
    if not a or not b:
        return []
    after_a = or_(Run.as_of > a["as_of"], and_(Run.as_of == a["as_of"], Run.id > a["id"]))
    up_to_b = or_(Run.as_of < b["as_of"], and_(Run.as_of == b["as_of"], Run.id <= b["id"]))
    return _rows(engine, select(Run.id, Run.as_of).where(Run.status == SUCCEEDED, after_a, up_to_b)
                 .order_by(Run.as_of, Run.id))


@per_run(app_engine)
def changes(run_from: int, run_to: int, engine: Engine | None = None) -> pd.DataFrame:
    """Who entered and who left Insiders from ``run_from`` to ``run_to``, with the reason.

    The reason is the one stored with the customer's latest event of that kind in the runs
    between the two (for consecutive runs, the event of ``run_to`` itself).
    """
    run_ids = [run["id"] for run in runs_between(run_from, run_to, engine)]
    stored = (data_index.stored_changes(run_from, run_to, currency(), engine)
              if run_ids == [run_to] else None)
    moves, worded = stored if stored is not None else (None, False)
    if moves is None:
        indexed = data_index.insiders_moves(run_from, run_to, engine)
        with ThreadPoolExecutor(2) as pool:  # two independent joins, run side by side
            parts = pool.map(
                lambda kind: _moves(run_from, run_to, kind, run_ids, engine, indexed),
                ("entered", "exited"))
            moves = pd.concat(list(parts), ignore_index=True)
    if not worded:
        moves = plain_reasons(moves).drop(columns="details")  # worded: no reader needs them
    for feature in KEY_FEATURES:
        moves[f"change_{feature}"] = moves[f"after_{feature}"] - moves[f"before_{feature}"]
    return moves


def changes_csv(run_from: int, run_to: int, engine: Engine | None = None) -> tuple[str, str]:
    """(file name, CSV text) of ``changes`` for other tools: both runs and their as-of dates
    in the name and in columns, numbers as numbers (``pipeline.exports``)."""
    engine = app_engine(engine)
    older, newer = get_run(run_from, engine), get_run(run_to, engine)
    table = changes_table(changes(run_from, run_to, engine), older, newer)
    return changes_filename(older, newer), to_csv(table)


def _events_for(kind: str, moves, run_ids: list[int], engine) -> pd.DataFrame:
    """Events of ``kind`` in ``run_ids`` of the customers ``moves`` selects or lists (joined in SQL:
    a long run range holds tens of thousands of events of customers who did not move; one
    run's events are about its moves alone, so they are read without joining them again)."""
    columns = ["run_id", "customer_id", "cause", "reason", "details"]
    if not run_ids:
        return pd.DataFrame(columns=columns)
    ev = MembershipEvent
    which = [ev.run_id.in_(run_ids), ev.kind == kind]
    if len(run_ids) > 1 and isinstance(moves, list):
        which.append(ev.customer_id.in_(moves) if len(moves) <= data_index.PROBE_ROWS
                     else true())  # many customers: filtered below
    elif len(run_ids) > 1:
        moved = moves.with_only_columns(moves.selected_columns.customer_id).scalar_subquery()
        which.append(ev.customer_id.in_(moved))
    # details as text: every column then has a plain type and PostgreSQL can COPY them out
    query = select(
        ev.run_id, ev.customer_id, ev.cause, ev.reason, cast(ev.details, String).label("details")
    ).where(*which)
    frame = _frame(engine, query, probe=True)
    if isinstance(moves, list) and len(moves) > data_index.PROBE_ROWS:
        frame = frame[frame["customer_id"].isin(moves)].reset_index(drop=True)
    frame["details"] = stored_details(frame["details"].tolist())
    return frame


@per_run(app_engine)
def transitions(run_from: int, run_to: int, engine: Engine | None = None) -> pd.DataFrame:
    """Customer counts per (cluster before, cluster after); before is None for new customers
    (through the runs' customer indexes when they have them, else their labels)."""
    stored = data_index.cluster_moves(run_from, run_to, app_engine(engine))
    if stored is not None:
        return stored
    labels = CustomerLabel.__table__
    older, newer = labels.alias("older"), labels.alias("newer")
    query = (
        select(
            older.c.cluster.label("cluster_before"),
            newer.c.cluster.label("cluster_after"),
            func.count().label("customers"),
        )
        .select_from(
            newer.outerjoin(
                older,
                and_(older.c.customer_id == newer.c.customer_id, older.c.run_id == run_from),
            )
        )
        .where(newer.c.run_id == run_to)
        .group_by(older.c.cluster, newer.c.cluster)
    )
    return _frame(engine, query)


def changes_and_transitions(
    run_from: int, run_to: int, engine: Engine | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``changes`` and ``transitions`` of two runs, read side by side."""
    engine = app_engine(engine)  # resolved here: the pool's threads have no app context
    with ThreadPoolExecutor(2) as pool:
        moves = pool.submit(changes, run_from, run_to, engine)
        counts = pool.submit(transitions, run_from, run_to, engine)
        return moves.result(), counts.result()


# ---- the audit log -----------------------------------------------------------------------


def audit_log(limit: int = 50, engine: Engine | None = None) -> list[dict]:
    query = select(AuditEntry.at, AuditEntry.username, AuditEntry.action, AuditEntry.details)
    return _rows(engine, query.order_by(AuditEntry.at.desc()).limit(limit))
