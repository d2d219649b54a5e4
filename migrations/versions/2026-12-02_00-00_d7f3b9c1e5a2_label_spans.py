"""Labels stored as changes: spans of runs over which a customer's labels stayed the same.

``customer_labels`` held every customer's labels for every run: at a million customers a daily
run added 284 MiB, most of it the day before's. Its rows become spans (``label_spans``: a new
one only when a customer's cluster, membership or figures change; the recency is kept as the
day of the last purchase), ``customer_labels`` becomes a view giving any run's full table, and
a running run stages its rows in ``label_stage`` until it is published. The map points of a run
published without a stored map file are stored first (the view has no map coordinates).

Revision ID: d7f3b9c1e5a2
Revises: c3e9f1a2b4d6
Create Date: 2026-12-02 00:00:00 UTC
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from alembic import op

revision = "d7f3b9c1e5a2"
down_revision = "c3e9f1a2b4d6"
branch_labels = None
depends_on = None

SAME = ("cluster", "is_insiders", "gross_revenue", "last_purchase", "invoice_quantity",
        "items_quantity", "products_quantity", "avg_ticket")
FEATURES = ("gross_revenue", "recency_days", "invoice_quantity", "items_quantity",
            "products_quantity", "avg_ticket")
MAP_FILE, MAX_MAP_POINTS = "map-points.npz", 30_000


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "label_stage",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("is_insiders", sa.Boolean(), nullable=False),
        sa.Column("gross_revenue", sa.Float(), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("invoice_quantity", sa.Integer(), nullable=False),
        sa.Column("items_quantity", sa.Integer(), nullable=False),
        sa.Column("products_quantity", sa.Integer(), nullable=False),
        sa.Column("avg_ticket", sa.Float(), nullable=False),
        sa.Column("embedding_x", sa.Float(), nullable=False),
        sa.Column("embedding_y", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_label_stage_run_id_runs",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_label_stage"),
    )
    op.create_table(
        "label_spans",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("first_run", sa.Integer(), nullable=False),
        sa.Column("end_run", sa.Integer(), nullable=True),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("is_insiders", sa.Boolean(), nullable=False),
        sa.Column("gross_revenue", sa.Float(), nullable=False),
        sa.Column("last_purchase", sa.Date(), nullable=False),
        sa.Column("invoice_quantity", sa.Integer(), nullable=False),
        sa.Column("items_quantity", sa.Integer(), nullable=False),
        sa.Column("products_quantity", sa.Integer(), nullable=False),
        sa.Column("avg_ticket", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "first_run", name="pk_label_spans"),
    )
    _store_missing_maps()
    _fill_spans()
    op.drop_table("customer_labels")
    _index_spans()
    op.execute(_view_sql())


def _fill_spans() -> None:
    if _postgresql():
        last_purchase = "o.as_of - l.recency_days"
    else:
        last_purchase = "date(o.as_of, '-' || l.recency_days || ' days')"
    unchanged = " AND ".join(f"LAG({name}) OVER w = {name}" for name in SAME)
    names = ", ".join(SAME)
    op.execute(
        "WITH ordered AS (SELECT id, as_of, ROW_NUMBER() OVER (ORDER BY id) AS seq FROM runs "
        "WHERE status = 'succeeded'), "
        "labelled AS (SELECT l.customer_id, l.run_id, o.seq, l.cluster, l.is_insiders, "
        f"l.gross_revenue, {last_purchase} AS last_purchase, l.invoice_quantity, "
        "l.items_quantity, l.products_quantity, l.avg_ticket "
        "FROM customer_labels l JOIN ordered o ON o.id = l.run_id), "
        "marked AS (SELECT labelled.*, CASE WHEN LAG(seq) OVER w = seq - 1 "
        f"AND {unchanged} THEN 0 ELSE 1 END AS starts FROM labelled "
        "WINDOW w AS (PARTITION BY customer_id ORDER BY seq)), "
        "grouped AS (SELECT marked.*, SUM(starts) OVER (PARTITION BY customer_id ORDER BY seq "
        "ROWS UNBOUNDED PRECEDING) AS span FROM marked), "
        f"spans AS (SELECT customer_id, MIN(run_id) AS first_run, MAX(seq) AS last_seq, {names} "
        f"FROM grouped GROUP BY customer_id, span, {names}) "
        f"INSERT INTO label_spans (customer_id, first_run, end_run, {names}) "
        f"SELECT s.customer_id, s.first_run, nxt.id, "
        + ", ".join(f"s.{name}" for name in SAME)
        + " FROM spans s LEFT JOIN ordered nxt ON nxt.seq = s.last_seq + 1"
    )


def _index_spans() -> None:
    if _postgresql():
        op.execute("CREATE INDEX ix_label_spans_runs ON label_spans "
                   "USING gist (int4range(first_run, end_run))")
        op.execute("CREATE INDEX ix_label_spans_insiders ON label_spans "
                   "USING gist (int4range(first_run, end_run)) WHERE is_insiders")
    op.create_index("ix_label_spans_first_end", "label_spans", ["first_run", "end_run"])
    op.create_index("ix_label_spans_open", "label_spans", ["customer_id"],
                    postgresql_where=sa.text("end_run IS NULL"),
                    sqlite_where=sa.text("end_run IS NULL"))


def _view_sql() -> str:
    if _postgresql():
        recency = "r.as_of - s.last_purchase"
        contains = "int4range(s.first_run, s.end_run) @> r.id"
    else:
        recency = "CAST(julianday(r.as_of) - julianday(s.last_purchase) AS INTEGER)"
        contains = "s.first_run <= r.id AND (s.end_run IS NULL OR r.id < s.end_run)"
    return (
        "CREATE VIEW customer_labels AS SELECT r.id AS run_id, s.customer_id, s.cluster, "
        f"s.is_insiders, s.gross_revenue, {recency} AS recency_days, s.invoice_quantity, "
        "s.items_quantity, s.products_quantity, s.avg_ticket "
        f"FROM runs r JOIN label_spans s ON {contains} WHERE r.status = 'succeeded'"
    )


def _store_missing_maps() -> None:
    """The map points of each published run without a stored map file, as the worker stores
    them (every customer up to MAX_MAP_POINTS, else every step-th id and every Insider)."""
    bind = op.get_bind()
    runs = bind.execute(sa.text(
        "SELECT id, n_customers FROM runs WHERE status = 'succeeded' AND id NOT IN "
        "(SELECT run_id FROM run_files WHERE name = :name) ORDER BY id"), {"name": MAP_FILE}).all()
    columns = ("customer_id", "cluster", "is_insiders", "embedding_x", "embedding_y", *FEATURES)
    for run_id, n_customers in runs:
        where = "run_id = :run"
        if n_customers and n_customers > MAX_MAP_POINTS:
            step = -(-n_customers // MAX_MAP_POINTS)
            where += f" AND (customer_id % {step} = 0 OR is_insiders)"
        rows = bind.execute(sa.text(f"SELECT {', '.join(columns)} FROM customer_labels "
                                    f"WHERE {where} ORDER BY customer_id"), {"run": run_id}).all()
        if not rows:
            continue
        values = list(zip(*rows, strict=True))
        arrays = {f"column_{i}": _array(name, values[i]) for i, name in enumerate(columns)}
        buffer = io.BytesIO()
        np.savez(buffer, names=np.array(list(columns)),
                 size=np.array([n_customers or 0, MAX_MAP_POINTS], dtype="int64"), **arrays)
        payload = buffer.getvalue()
        content = pa.Codec("zstd", compression_level=3).compress(payload, asbytes=True)
        bind.execute(sa.text(
            "INSERT INTO run_files (run_id, name, content, size, created_at) "
            "VALUES (:run, :name, :content, :size, :at)"),
            {"run": run_id, "name": MAP_FILE, "content": content, "size": len(payload),
             "at": datetime.now(UTC)})


def _array(name: str, values: tuple) -> np.ndarray:
    if name == "is_insiders":
        return np.array(values, dtype=bool)
    if name in ("customer_id", "cluster", "recency_days", "invoice_quantity", "items_quantity",
                "products_quantity"):
        return np.array(values, dtype="int64")
    return np.array(values, dtype="float64")


def downgrade() -> None:
    op.execute("DROP VIEW customer_labels")
    op.create_table(
        "customer_labels",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("is_insiders", sa.Boolean(), nullable=False),
        sa.Column("gross_revenue", sa.Float(), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("invoice_quantity", sa.Integer(), nullable=False),
        sa.Column("items_quantity", sa.Integer(), nullable=False),
        sa.Column("products_quantity", sa.Integer(), nullable=False),
        sa.Column("avg_ticket", sa.Float(), nullable=False),
        sa.Column("embedding_x", sa.Float(), nullable=False),
        sa.Column("embedding_y", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_customer_labels"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_customer_labels_run_id_runs",
                                ondelete="CASCADE"),
    )
    # the map coordinates are not kept by the spans: 0 (the stored map files keep them)
    view = _view_sql().removeprefix("CREATE VIEW customer_labels AS SELECT ")
    op.execute("INSERT INTO customer_labels (run_id, customer_id, cluster, is_insiders, "
               "gross_revenue, recency_days, invoice_quantity, items_quantity, "
               "products_quantity, avg_ticket, embedding_x, embedding_y) "
               f"SELECT {view.replace(' FROM runs r', ', 0.0, 0.0 FROM runs r', 1)}")
    op.create_index("ix_customer_labels_customer_run", "customer_labels",
                    ["customer_id", "run_id"])
    op.create_index("ix_customer_labels_run_insiders", "customer_labels",
                    ["run_id", "is_insiders"])
    op.drop_table("label_spans")
    op.drop_table("label_stage")
