"""The dashboard's only reader of the store: SQLAlchemy Core selects, plain dicts and frames out.

Every function takes an optional engine; by default it uses the engine the running app was
created with (``create_app``), so callbacks never hold an engine or write SQL themselves.
A succeeded run never changes, so everything keyed by a run id is safe to read at any time.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import flask
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, String, and_, case, cast, false, func, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import CompileError

from pipeline.columns import FEATURE_COLUMNS
from store import bulk
from store.schema import (
    ACTIVE_STATUSES,
    AuditEntry,
    Cluster,
    CustomerLabel,
    MembershipEvent,
    ModelVersion,
    Run,
)

ENGINE_KEY = "INSIDERS_ENGINE"
# ~30k points keep the map readable, its JSON near 1.5 MB and a cold read well under 300 ms
MAX_SCATTER_POINTS = 30_000
RUN_COLUMNS = (
    Run.id, Run.status, Run.trigger, Run.requested_by, Run.as_of, Run.refit, Run.queued_at,
    Run.started_at, Run.finished_at, Run.heartbeat_at, Run.progress_stage, Run.progress_percent,
    Run.error, Run.model_version, Run.n_customers, Run.n_insiders, Run.insiders_share,
    Run.revenue_share, Run.silhouette,
)
LABEL_FEATURES = [getattr(CustomerLabel, name) for name in FEATURE_COLUMNS]


_CACHE: OrderedDict[tuple, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 48


def _per_run(fn):
    """Memoise a read of succeeded runs: their rows never change once written, so the
    answer for the same database and run ids is the same for every user and every load.
    Empty answers are not kept (the run may not have been written yet)."""

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        engine = _engine(bound.arguments.pop("engine"))
        key = (fn.__name__, engine.url.render_as_string(), tuple(bound.arguments.items()))
        with _CACHE_LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _copy(_CACHE[key])
        value = fn(**bound.arguments, engine=engine)
        if len(value):
            with _CACHE_LOCK:
                _CACHE[key] = value
                while len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
        return _copy(value)

    return wrapper


def _copy(value):
    return value.copy() if isinstance(value, pd.DataFrame | dict | list) else value


def remember(name: str, args: tuple, compute, engine: Engine | None = None):
    """``compute()`` once per (database, name, args): for answers built from succeeded runs."""
    key = (name, _engine(engine).url.render_as_string(), args)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = compute()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _engine(engine: Engine | None) -> Engine:
    if engine is not None:
        return engine
    if flask.has_app_context() and ENGINE_KEY in flask.current_app.config:
        return flask.current_app.config[ENGINE_KEY]
    from store.db import get_engine

    return get_engine()


def _rows(engine: Engine | None, query) -> list[dict]:
    with _engine(engine).connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


# "named" so that a literal % (modulo) is not doubled as for the driver's format style
_COPY_DIALECT = postgresql.dialect(paramstyle="named")
_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def _arrow_types(query) -> dict[str, pa.DataType] | None:
    """Arrow types of the query's columns, or None if one has no plain CSV form."""
    types = {}
    for column in query.selected_columns:
        try:
            kind = _ARROW_TYPES.get(column.type.python_type)
        except NotImplementedError:
            kind = None
        if kind is None or column.name in types:
            return None
        types[column.name] = kind
    return types


def _copy_sql(query) -> str | None:
    """``query`` with its parameters inlined (COPY takes none), or None if one cannot be."""
    try:
        return str(query.compile(dialect=_COPY_DIALECT, compile_kwargs={"literal_binds": True}))
    except CompileError:
        return None


def _frame(engine: Engine | None, query, probe: bool = False) -> pd.DataFrame:
    """The rows of ``query`` as a frame. ``probe``: the query joins a few thousand rows of
    one run to another run by primary key; PostgreSQL would rather hash the whole other run
    (about 3x slower), so its hash and merge joins are switched off for this one statement."""
    engine = _engine(engine)
    types = _arrow_types(query) if engine.dialect.name == "postgresql" else None
    sql = _copy_sql(query) if types is not None else None
    if sql is not None:
        # COPY into Arrow: several times faster than driver rows for the big label sets
        with engine.begin() as conn:
            if probe:
                conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
                conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
            return bulk.copy_out(conn, sql, types).to_pandas()
    with engine.connect() as conn:
        result = conn.execute(query)
        keys, rows = list(result.keys()), result.all()
    # column-wise: building a frame from tens of thousands of Row objects is ~10x slower
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in keys]
    return pd.DataFrame({key: _column(values) for key, values in zip(keys, columns, strict=True)})


def _column(values: tuple) -> np.ndarray | list:
    array = np.asarray(values)
    return list(values) if array.dtype == object else array


def _one(engine: Engine | None, query) -> dict | None:
    rows = _rows(engine, query.limit(1))
    return rows[0] if rows else None


# ---- runs -------------------------------------------------------------------------------


def _succeeded():
    return select(*RUN_COLUMNS).where(Run.status == "succeeded")


def current_run(engine: Engine | None = None) -> dict | None:
    """The succeeded run with the greatest (as_of, id): what every page shows."""
    return _one(engine, _succeeded().order_by(Run.as_of.desc(), Run.id.desc()))


def get_run(run_id: int, engine: Engine | None = None) -> dict | None:
    return _one(engine, select(*RUN_COLUMNS, Run.report).where(Run.id == run_id))


def run_report(run_id: int, engine: Engine | None = None) -> dict:
    row = _one(engine, select(Run.report).where(Run.id == run_id))
    return dict(row["report"] or {}) if row else {}


def previous_run(run_id: int, engine: Engine | None = None) -> dict | None:
    """The succeeded run just before ``run_id`` in (as_of, id) order."""
    this = _one(engine, select(Run.as_of, Run.id).where(Run.id == run_id))
    if this is None:
        return None
    earlier = or_(
        Run.as_of < this["as_of"], and_(Run.as_of == this["as_of"], Run.id < this["id"])
    )
    return _one(engine, _succeeded().where(earlier).order_by(Run.as_of.desc(), Run.id.desc()))


def succeeded_runs(engine: Engine | None = None) -> list[dict]:
    """Every succeeded run, oldest first (for pickers and trends)."""
    return _rows(engine, _succeeded().order_by(Run.as_of, Run.id))


def active_run(engine: Engine | None = None) -> dict | None:
    """The queued or running run, if any (there is at most one)."""
    return _one(engine, select(*RUN_COLUMNS).where(Run.status.in_(ACTIVE_STATUSES)))


def latest_run(engine: Engine | None = None) -> dict | None:
    """The most recently queued run, whatever its status (to explain a failure)."""
    return _one(engine, select(*RUN_COLUMNS).order_by(Run.id.desc()))


def run_history(limit: int = 200, engine: Engine | None = None) -> list[dict]:
    return _rows(engine, select(*RUN_COLUMNS).order_by(Run.id.desc()).limit(limit))


# ---- clusters and customers of a run ----------------------------------------------------


@_per_run
def clusters(run_id: int, engine: Engine | None = None) -> list[dict]:
    query = select(*Cluster.__table__.columns).where(Cluster.run_id == run_id)
    return _rows(engine, query.order_by(Cluster.cluster))


@_per_run
def insiders_summary(run_id: int, engine: Engine | None = None) -> dict:
    """Count, mean revenue and mean ticket of the Insiders and of everyone, in one pass."""
    insider = CustomerLabel.is_insiders
    query = select(
        func.count().label("customers"),
        func.sum(case((insider, 1), else_=0)).label("insiders"),
        func.avg(CustomerLabel.gross_revenue).label("mean_revenue_all"),
        func.avg(CustomerLabel.avg_ticket).label("mean_ticket_all"),
        func.sum(CustomerLabel.gross_revenue).label("revenue_all"),
    ).where(CustomerLabel.run_id == run_id)
    insiders_query = select(
        func.avg(CustomerLabel.gross_revenue).label("mean_revenue"),
        func.avg(CustomerLabel.avg_ticket).label("mean_ticket"),
        func.sum(CustomerLabel.gross_revenue).label("revenue"),
    ).where(CustomerLabel.run_id == run_id, insider)
    everyone = _one(engine, query) or {}
    insiders = _one(engine, insiders_query) or {}
    summary = {k: (v if v is not None else 0) for k, v in {**everyone, **insiders}.items()}
    total = summary.get("revenue_all") or 0
    summary["revenue_share"] = (summary.get("revenue") or 0) / total if total else 0.0
    customers = summary.get("customers") or 0
    summary["share"] = (summary.get("insiders") or 0) / customers if customers else 0.0
    return summary


@_per_run
def embedding_sample(
    run_id: int, n_customers: int | None, max_points: int = MAX_SCATTER_POINTS,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Embedding points of a run; above ``max_points`` a deterministic sample by customer id
    (every Insider is kept so that the highlighted group is shown whole)."""
    query = select(
        CustomerLabel.customer_id, CustomerLabel.cluster, CustomerLabel.is_insiders,
        CustomerLabel.embedding_x, CustomerLabel.embedding_y, *LABEL_FEATURES,
    ).where(CustomerLabel.run_id == run_id)
    if n_customers and n_customers > max_points:
        step = -(-n_customers // max_points)
        query = query.where(or_(CustomerLabel.customer_id % step == 0, CustomerLabel.is_insiders))
    return _frame(engine, query)


@_per_run
def insiders_list(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    query = (
        select(CustomerLabel.customer_id, CustomerLabel.cluster, *LABEL_FEATURES)
        .where(CustomerLabel.run_id == run_id, CustomerLabel.is_insiders)
        .order_by(CustomerLabel.gross_revenue.desc())
    )
    return _frame(engine, query)


# ---- changes between two runs -----------------------------------------------------------

_KEY_FEATURES = ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")


def _side(alias, prefix: str) -> list:
    return [getattr(alias.c, f).label(f"{prefix}_{f}") for f in _KEY_FEATURES]


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
            *_side(older, "before"), *_side(newer, "after"),
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
           engine: Engine | None) -> pd.DataFrame:
    """The moves of one kind with the customer's latest event of that kind in ``run_ids``."""
    query = _moves_query(run_from, run_to, kind)
    frame = _frame(engine, query, probe=True)
    frame.insert(1, "kind", kind)
    events = _events_for(kind, query, run_ids, engine)
    if events.empty:
        frame["cause"], frame["reason"], frame["details"] = None, None, None
        return frame
    latest = events.sort_values("run_id").drop_duplicates("customer_id", keep="last")
    return frame.merge(latest[["customer_id", "cause", "reason", "details"]],
                       on="customer_id", how="left")


def _runs_between(run_from: int, run_to: int, engine: Engine | None) -> list[int]:
    a, b = get_run(run_from, engine), get_run(run_to, engine)
    if not a or not b:
        return []
    after_a = or_(Run.as_of > a["as_of"], and_(Run.as_of == a["as_of"], Run.id > a["id"]))
    up_to_b = or_(Run.as_of < b["as_of"], and_(Run.as_of == b["as_of"], Run.id <= b["id"]))
    query = select(Run.id).where(Run.status == "succeeded", after_a, up_to_b)
    return [row["id"] for row in _rows(engine, query)]


@_per_run
def changes(run_from: int, run_to: int, engine: Engine | None = None) -> pd.DataFrame:
    """Who entered and who left Insiders from ``run_from`` to ``run_to``, with the reason.

    The reason is the one stored with the customer's latest event of that kind in the runs
    between the two (for consecutive runs, the event of ``run_to`` itself).
    """
    run_ids = _runs_between(run_from, run_to, engine)
    with ThreadPoolExecutor(2) as pool:  # two independent joins: the database runs both at once
        parts = pool.map(lambda kind: _moves(run_from, run_to, kind, run_ids, engine),
                         ("entered", "exited"))
        moves = pd.concat(list(parts), ignore_index=True)
    moves["reason"] = moves["reason"].fillna("no event recorded between these runs")
    for feature in _KEY_FEATURES:
        moves[f"change_{feature}"] = moves[f"after_{feature}"] - moves[f"before_{feature}"]
    return moves


def _events_for(kind: str, moves, run_ids: list[int], engine) -> pd.DataFrame:
    """Events of ``kind`` in ``run_ids`` of the customers ``moves`` selects (joined in SQL:
    a long run range holds tens of thousands of events of customers who did not move)."""
    columns = ["run_id", "customer_id", "cause", "reason", "details"]
    if not run_ids:
        return pd.DataFrame(columns=columns)
    ev = MembershipEvent
    moved = moves.with_only_columns(moves.selected_columns.customer_id).scalar_subquery()
    # details as text: every column then has a plain type and PostgreSQL can COPY them out
    query = select(
        ev.run_id, ev.customer_id, ev.cause, ev.reason, cast(ev.details, String).label("details")
    ).where(ev.run_id.in_(run_ids), ev.kind == kind, ev.customer_id.in_(moved))
    frame = _frame(engine, query, probe=True)
    frame["details"] = [json.loads(text) if isinstance(text, str) else None
                        for text in frame["details"]]
    return frame


@_per_run
def transitions(run_from: int, run_to: int, engine: Engine | None = None) -> pd.DataFrame:
    """Customer counts per (cluster before, cluster after); before is None for new customers."""
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
    engine = _engine(engine)  # resolved here: the pool's threads have no app context
    with ThreadPoolExecutor(2) as pool:
        moves = pool.submit(changes, run_from, run_to, engine)
        counts = pool.submit(transitions, run_from, run_to, engine)
        return moves.result(), counts.result()


# ---- one customer across runs -----------------------------------------------------------


def customer_history(customer_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The customer's cluster, flag and features in every succeeded run, oldest first."""
    lab = CustomerLabel
    query = (
        select(
            Run.id.label("run_id"), Run.as_of, Run.model_version, lab.cluster,
            Cluster.name.label("cluster_name"), Cluster.color, lab.is_insiders, *LABEL_FEATURES,
        )
        .select_from(lab)
        .join(Run, Run.id == lab.run_id)
        .outerjoin(Cluster, and_(Cluster.run_id == lab.run_id, Cluster.cluster == lab.cluster))
        .where(lab.customer_id == customer_id, Run.status == "succeeded")
        .order_by(Run.as_of, Run.id)
    )
    return _frame(engine, query)


def customer_events(customer_id: int, engine: Engine | None = None) -> list[dict]:
    ev = MembershipEvent
    query = (
        select(ev.run_id, Run.as_of, ev.kind, ev.cause, ev.reason, ev.details)
        .join(Run, Run.id == ev.run_id)
        .where(ev.customer_id == customer_id, Run.status == "succeeded")
        .order_by(Run.as_of, Run.id)
    )
    return _rows(engine, query)


def runs_count(engine: Engine | None = None) -> int:
    row = _one(engine, select(func.count().label("n")).select_from(Run))
    return int(row["n"]) if row else 0


# ---- model versions and thresholds ------------------------------------------------------


def model_versions(versions: Iterable[int], engine: Engine | None = None) -> dict[int, dict]:
    """Version -> its metadata and thresholds (the artifact itself is never read here)."""
    wanted = sorted({int(v) for v in versions if v is not None})
    if not wanted:
        return {}
    mv = ModelVersion
    query = select(
        mv.version, mv.created_at, mv.fitted_as_of, mv.parent_version, mv.parameters,
        mv.thresholds, mv.clusters, mv.metrics,
    ).where(mv.version.in_(wanted))
    return {row["version"]: row for row in _rows(engine, query)}


def normalise_thresholds(raw: dict | None) -> dict[str, dict[str, float | None]]:
    """Thresholds as {feature: {"entry": x, "exit": y, "entry_op": ">=", "exit_op": "<"}}.

    Accepts the model's {"entry": {feature: {"op": ">=", "value": x}}, "exit": {...}}, plain
    numbers in place of the rules, and {feature: {"entry": x, "exit": y}}; skips anything else.
    """
    out: dict[str, dict] = {}
    if not isinstance(raw, dict):
        return out
    for side in ("entry", "exit"):
        block = raw.get(side)
        if isinstance(block, dict):
            for feature, value in block.items():
                _put_threshold(out, feature, side, value)
    for feature, block in raw.items():
        if feature in FEATURE_COLUMNS and isinstance(block, dict):
            for side in ("entry", "exit"):
                if side in block:
                    _put_threshold(out, feature, side, block[side])
    return out


def _put_threshold(out: dict, feature: str, side: str, value) -> None:
    if isinstance(value, dict):
        if "op" in value:
            out.setdefault(feature, {})[f"{side}_op"] = value["op"]
        value = value.get("value", value.get("threshold"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        out.setdefault(feature, {})[side] = float(value)


def run_thresholds(run: dict, engine: Engine | None = None) -> dict:
    """The thresholds a run used: from its report if stored there, else its model version."""
    report = run_report(run["id"], engine) if "report" not in run else (run["report"] or {})
    found = normalise_thresholds(report.get("thresholds"))
    if found:
        return found
    version = model_versions([run.get("model_version")], engine).get(run.get("model_version"))
    return normalise_thresholds(version["thresholds"]) if version else {}


def audit_log(limit: int = 50, engine: Engine | None = None) -> list[dict]:
    query = select(AuditEntry.at, AuditEntry.username, AuditEntry.action, AuditEntry.details)
    return _rows(engine, query.order_by(AuditEntry.at.desc()).limit(limit))


# ---- warming the cache ------------------------------------------------------------------

_WARMED: set[tuple] = set()
log = logging.getLogger(__name__)


def warm_current(engine: Engine | None = None) -> bool:
    """Read the current run's heavy answers in a background thread, once per run, so the
    first person to open it after a run finishes does not wait. True if a warm-up started."""
    engine = _engine(engine)
    run = current_run(engine)
    if run is None:
        return False
    key = (engine.url.render_as_string(), run["id"])
    with _CACHE_LOCK:
        if key in _WARMED:
            return False
        _WARMED.add(key)
    threading.Thread(target=_warm, args=(engine, run), name="dashboard-warm", daemon=True).start()
    return True


def _warm(engine: Engine, run: dict) -> None:
    try:
        clusters(run["id"], engine=engine)
        insiders_summary(run["id"], engine=engine)
        embedding_sample(run["id"], run.get("n_customers"), engine=engine)
        previous = previous_run(run["id"], engine)
        if previous is not None:
            changes(previous["id"], run["id"], engine=engine)
            transitions(previous["id"], run["id"], engine=engine)
        insiders_list(run["id"], engine=engine)
    except Exception:  # a warm-up is only a head start; the page reads again if it failed
        log.exception("warming the dashboard cache for run %s failed", run["id"])
