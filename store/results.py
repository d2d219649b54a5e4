"""Results of a run: model versions, clusters, customer labels, membership events.

``write_results`` is the atomic switch: the run's rows and ``status = 'succeeded'`` are
written in the caller's single transaction, so a reader sees all of a run or none of it. A
run's labels are staged first and turned into spans when it is published
(:func:`publish_run_labels`, :mod:`store.labels`).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.orm import Session

from pipeline.columns import FEATURE_COLUMNS, INTEGER_FEATURE_COLUMNS
from pipeline.errors import PipelineInputError
from pipeline.model_state import ModelState
from pipeline.partition_scoring import SCORES_PER_CUSTOMER, scores_per_customer
from pipeline.plain import plain_value
from store import run_index
from store.artifacts import artifact_pieces, write_artifact
from store.bulk import copy_out, insert_frame
from store.labels import LabelStage, publish_labels
from store.run_inputs import CustomerRange, Partition
from store.runs import mark_succeeded, utcnow
from store.schema import Cluster, CustomerLabel, MembershipEvent, ModelVersion, Run
from store.webhook_events import record_run_succeeded

LABEL_COLUMNS = (
    "run_id",
    "customer_id",
    "cluster",
    "is_insiders",
    *FEATURE_COLUMNS,
    "embedding_x",
    "embedding_y",
)
WRITE_ROWS = 100_000
"""Customers written per slice when a run's labels are stored."""


class RunNoLongerActive(RuntimeError):
    """The run was failed (e.g. reaped) or finished by someone else; nothing was written."""


def write_results(
    session: Session,
    run_id: int,
    result,
    *,
    previous_run_id: int | None,
    code_version: str,
    artifact_key: bytes,
    run_values: dict | None = None,
) -> None:
    """Write a finished run's results and mark it succeeded, in ``session``'s transaction.
    A new model version's artifact is signed with ``artifact_key``.

    ``result`` is a ``pipeline.run.RunResult``. Raises RunNoLongerActive (the caller rolls
    back) when the run is no longer running, e.g. the reaper failed it meanwhile.
    """
    metrics = plain_value(result.metrics)
    values = {
        "model_version": int(result.state.version),
        "data_fingerprint": result.data_fingerprint,
        "code_version": code_version,
        "n_customers": _int_or_none(metrics.get("n_customers", len(result.labels))),
        "n_insiders": _int_or_none(
            metrics.get("n_insiders", int(result.labels["is_insiders"].sum()))
        ),
        "insiders_share": metrics.get("insiders_share"),
        "revenue_share": metrics.get("revenue_share"),
        "silhouette": metrics.get("silhouette"),
        "metrics": {**metrics, "cleaning": plain_value(result.cleaning),
                    "refitted": result.refitted},
        "report": plain_value(result.report),
        **(run_values or {}),
    }
    # first statement: takes the run's row lock, so the reaper cannot fail it under us
    if not mark_succeeded(session, run_id, **values):
        raise RunNoLongerActive(f"run {run_id} is no longer running; results not written")
    connection = session.connection()
    if result.refitted:
        write_model_version(connection, result.state, run_id=run_id,
                            data_fingerprint=result.data_fingerprint or "",
                            code_version=code_version, artifact_key=artifact_key)
    write_clusters(connection, run_id, result.clusters)
    write_labels(connection, run_id, result.labels)
    publish_run_labels(connection, run_id)
    write_events(connection, run_id, result.events, previous_run_id=previous_run_id)
    # the outbox: deliveries commit with the run, a worker task sends them afterwards
    record_run_succeeded(connection, run_id)


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def write_model_version(
    connection: Connection, state: ModelState, *, run_id: int | None, data_fingerprint: str = "",
    code_version: str, artifact_key: bytes,
) -> None:
    """Model version ``state``, fitted by run ``run_id``, with its artifact signed with
    ``artifact_key``."""
    connection.execute(
        insert(ModelVersion.__table__).values(
            version=int(state.version),
            created_at=utcnow(),
            created_by_run_id=run_id,
            parent_version=(int(state.version) - 1) if state.version > 1 else None,
            fitted_as_of=state.fitted_as_of,
            data_fingerprint=data_fingerprint,
            code_version=code_version,
            parameters=plain_value({**(state.parameters or {}),
                                    SCORES_PER_CUSTOMER: scores_per_customer(state)}),
            thresholds=plain_value(state.thresholds),
            clusters=plain_value(state.clusters),
            metrics=plain_value(state.metrics),
            artifact=b"",
        )
    )
    write_artifact(connection, state, artifact_key)


def write_clusters(connection: Connection, run_id: int, clusters: pd.DataFrame) -> None:
    rows = [
        {
            "run_id": run_id,
            "cluster": int(row["cluster"]),
            "name": str(row["name"])[:100],
            "color": str(row["color"])[:16],
            "is_insiders": bool(row["is_insiders"]),
            "size": int(row["size"]),
            "share": float(row["share"]),
            "revenue_share": float(row["revenue_share"]),
            "profile": plain_value(row.get("profile") or {}),
        }
        for row in clusters.to_dict(orient="records")
    ]
    if rows:
        connection.execute(insert(Cluster.__table__), rows)


def labels_table(run_id: int, labels: pd.DataFrame) -> pd.DataFrame:
    """The staged label rows of a run, with the stored column types."""
    table = labels.reset_index()
    table.insert(0, "run_id", run_id)
    table = table.loc[:, list(LABEL_COLUMNS)]
    table["customer_id"] = table["customer_id"].astype("int64")
    table["cluster"] = table["cluster"].astype("int64")
    table["is_insiders"] = table["is_insiders"].astype(bool)
    for name in INTEGER_FEATURE_COLUMNS:
        table[name] = table[name].round().astype("int64")
    return table


def write_labels(
    connection: Connection, run_id: int, labels: pd.DataFrame, *, method: str = "auto"
) -> int:
    """Stage customer labels of a run: COPY on PostgreSQL, executemany on SQLite, in slices of
    :data:`WRITE_ROWS` customers (a run's whole table converted at once held a second and
    third copy of every label: about 450 MB more at a million customers).

    ``method="rows"`` inserts row by row (the benchmark's baseline).
    """
    if method == "rows":
        for row in labels_table(run_id, labels).to_dict(orient="records"):
            connection.execute(insert(LabelStage.__table__).values(**row))
        return len(labels)
    for start in range(0, len(labels), WRITE_ROWS):
        insert_frame(connection, LabelStage.__tablename__,
                     labels_table(run_id, labels.iloc[start:start + WRITE_ROWS]))
    return len(labels)


def publish_run_labels(connection: Connection, run_id: int) -> dict[str, int]:
    """Store the map points of run ``run_id`` from its staged labels (the spans keep no map
    coordinates) and its summary, and turn the labels into spans, in the caller's transaction:
    the one that publishes the run. Returns the spans closed and opened."""
    as_of = connection.execute(select(Run.as_of).where(Run.id == int(run_id))).scalar_one()
    summary = run_index.write_summary(connection, run_id)
    run_index.write_points(connection, run_id, summary["customers"], summary["insiders"])
    return publish_labels(connection, run_id, as_of)


def write_events(
    connection: Connection, run_id: int, events: pd.DataFrame, *, previous_run_id: int | None
) -> None:
    rows = [
        {
            "run_id": run_id,
            "previous_run_id": previous_run_id,
            "customer_id": int(row["customer_id"]),
            "kind": str(row["kind"]),
            "cause": str(row["cause"]),
            "reason": str(row["reason"]),
            "details": plain_value(row.get("details") or {}),
        }
        for row in events.to_dict(orient="records")
    ]
    if rows:
        connection.execute(insert(MembershipEvent.__table__), rows)


def latest_model_state(connection: Connection, artifact_key: bytes) -> ModelState | None:
    """The newest ModelState (greatest version), or None before the first fit; its artifact
    must carry ``artifact_key``'s signature (PipelineInputError otherwise)."""
    version = connection.execute(select(func.max(ModelVersion.version))).scalar()
    return None if version is None else model_state(connection, int(version), artifact_key)


def model_state(connection: Connection, version: int, artifact_key: bytes, *,
                exact: bool = True) -> ModelState:
    """Model version ``version`` with its fitted model, its artifact read in pieces
    (:func:`store.artifacts.artifact_pieces`) and checked against ``artifact_key``;
    ``exact=False``: without what only the exact transform reads, never held in memory."""
    pieces = artifact_pieces(connection, version)
    if pieces is None:
        raise PipelineInputError(f"model version {version} is not stored")
    return ModelState.from_pieces(pieces, artifact_key, exact=exact)


def facts_state(facts) -> ModelState:
    """A model version without its fitted model, from :func:`store.partition_data.version_facts`:
    what a refit reads of the version it replaces (number, thresholds, clusters), with no
    artifact read (hundreds of megabytes at a million customers)."""
    return ModelState(version=int(facts.version), fitted_as_of=facts.fitted_as_of,
                      parameters=dict(facts.parameters or {}), thresholds=facts.thresholds,
                      clusters=list(facts.clusters), metrics={}, model=None)


def load_labels(engine: Engine | Connection, run_id: int,
                partition: Partition | None = None,
                columns: tuple[str, ...] | None = None, *, staged: bool = False) -> pd.DataFrame:
    """A published run's labels: index customer_id; cluster, is_insiders, features (or only
    ``columns`` of them); ``partition=(p, n)``: only the customers whose id modulo n is p; a
    :class:`~store.run_inputs.CustomerRange`: only those in it. ``staged``: a run not yet
    published, whose labels have their map coordinates too."""
    if isinstance(engine, Engine):
        with engine.connect() as connection:
            return _load_labels(connection, run_id, partition, columns, staged)
    return _load_labels(engine, run_id, partition, columns, staged)


def _load_labels(connection: Connection, run_id: int, partition: Partition | None,
                 names: tuple[str, ...] | None, staged: bool) -> pd.DataFrame:
    label = LabelStage if staged else CustomerLabel
    names = ("customer_id", *names) if names else (
        LABEL_COLUMNS[1:] if staged else LABEL_COLUMNS[1:-2])
    columns = [getattr(label, name) for name in names]
    query = select(*columns).where(label.run_id == int(run_id)).order_by(label.customer_id)
    if isinstance(partition, CustomerRange):
        if partition.lo is not None:
            query = query.where(label.customer_id >= int(partition.lo))
        if partition.hi is not None:
            query = query.where(label.customer_id < int(partition.hi))
    elif partition is not None:
        p, n = int(partition[0]), int(partition[1])
        # the query's text is sent through COPY on PostgreSQL, where '%' would come out doubled
        modulo = (func.mod(label.customer_id, n)
                  if connection.dialect.name == "postgresql" else label.customer_id % n)
        query = query.where(modulo == p)
    if connection.dialect.name == "postgresql":
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        types = _label_types()
        frame = copy_out(connection, sql, {name: types[name] for name in names}).to_pandas()
    else:
        frame = pd.read_sql_query(query, connection)
    frame["is_insiders"] = frame["is_insiders"].astype(bool)
    return frame.set_index("customer_id")


def _label_types() -> dict[str, pa.DataType]:
    def kind(name: str) -> pa.DataType:
        if name == "is_insiders":
            return pa.bool_()
        if name in ("customer_id", "cluster", *INTEGER_FEATURE_COLUMNS):
            return pa.int64()
        return pa.float64()

    return {name: kind(name) for name in LABEL_COLUMNS[1:]}
