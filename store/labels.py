"""A run's labels stored as changes: spans of runs over which a customer's labels stayed the same.

A run writes its customers' labels to ``label_stage`` (every customer, by partition or at once;
the finishing jobs read them there), and its publication turns them into spans in one statement
each (:func:`publish_labels`): a customer whose cluster, membership or figures did not change
keeps the span they are in, the others have theirs closed and a new one opened. The view
``customer_labels`` gives any published run's full table (:class:`store.schema.CustomerLabel`).

A customer's recency grows by a day each day without a purchase, so a span keeps the day of the
last purchase and the view counts the days to the run's date. Every other figure changes only
with a purchase. So a daily run opens spans only for the customers who bought or moved: at a
hundred thousand customers a daily run stored 28 MiB of labels, its spans take about one.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    Connection,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.schema import Base

SAME_LABELS = ("cluster", "is_insiders", "gross_revenue", "invoice_quantity", "items_quantity",
               "products_quantity", "avg_ticket")
"""The columns a span keeps as they are (besides the day of the last purchase)."""


class LabelStage(Base):
    """A running run's labels, every customer, until its publication turns them into spans."""

    __tablename__ = "label_stage"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)
    is_insiders: Mapped[bool] = mapped_column(Boolean)
    gross_revenue: Mapped[float] = mapped_column(Float)
    recency_days: Mapped[int] = mapped_column(Integer)
    invoice_quantity: Mapped[int] = mapped_column(Integer)
    items_quantity: Mapped[int] = mapped_column(Integer)
    products_quantity: Mapped[int] = mapped_column(Integer)
    avg_ticket: Mapped[float] = mapped_column(Float)
    embedding_x: Mapped[float] = mapped_column(Float)
    embedding_y: Mapped[float] = mapped_column(Float)


class LabelSpan(Base):
    """A customer's labels from run ``first_run`` to before run ``end_run`` (open: NULL)."""

    __tablename__ = "label_spans"
    __table_args__ = (
        # the spans of one run: a GiST index on the range of runs answers "contains run r"
        Index("ix_label_spans_runs", text("int4range(first_run, end_run)"),
              postgresql_using="gist").ddl_if(dialect="postgresql"),
        Index("ix_label_spans_insiders", text("int4range(first_run, end_run)"),
              postgresql_using="gist", postgresql_where=text("is_insiders"))
        .ddl_if(dialect="postgresql"),
        Index("ix_label_spans_first_end", "first_run", "end_run"),
        Index("ix_label_spans_open", "customer_id", postgresql_where=text("end_run IS NULL"),
              sqlite_where=text("end_run IS NULL")),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    first_run: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    end_run: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cluster: Mapped[int] = mapped_column(Integer)
    is_insiders: Mapped[bool] = mapped_column(Boolean)
    gross_revenue: Mapped[float] = mapped_column(Float)
    last_purchase: Mapped[date] = mapped_column(Date)
    invoice_quantity: Mapped[int] = mapped_column(Integer)
    items_quantity: Mapped[int] = mapped_column(Integer)
    products_quantity: Mapped[int] = mapped_column(Integer)
    avg_ticket: Mapped[float] = mapped_column(Float)


def view_sql(dialect: str) -> str:
    """The ``customer_labels`` view: a row per published run and customer, from the spans."""
    if dialect == "postgresql":
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


for _dialect in ("postgresql", "sqlite"):  # a schema made from the models has the view too
    event.listen(Base.metadata, "after_create",
                 DDL(view_sql(_dialect)).execute_if(dialect=_dialect))
event.listen(Base.metadata, "before_drop", DDL("DROP VIEW IF EXISTS customer_labels"))


def publish_labels(connection: Connection, run_id: int, as_of: date) -> dict[str, int]:
    """Turn run ``run_id``'s staged labels (as of ``as_of``) into spans and empty the stage, in
    the caller's transaction (the one that publishes the run: no other run is staging).
    Returns the spans closed and opened."""
    params = {"run": int(run_id), "as_of": as_of.isoformat()}
    last_purchase = _last_purchase(connection)
    same = " AND ".join(f"t.{name} = label_spans.{name}" for name in SAME_LABELS)
    closed = connection.execute(text(
        "UPDATE label_spans SET end_run = :run WHERE end_run IS NULL AND first_run < :run "
        "AND NOT EXISTS (SELECT 1 FROM label_stage t WHERE t.run_id = :run "
        f"AND t.customer_id = label_spans.customer_id AND {same} "
        f"AND {last_purchase} = label_spans.last_purchase)"), params).rowcount
    names = ", ".join(SAME_LABELS)
    opened = connection.execute(text(
        f"INSERT INTO label_spans (customer_id, first_run, end_run, last_purchase, {names}) "
        f"SELECT t.customer_id, :run, NULL, {last_purchase}, "
        + ", ".join(f"t.{name}" for name in SAME_LABELS)
        + " FROM label_stage t WHERE t.run_id = :run AND NOT EXISTS (SELECT 1 FROM label_spans s "
        "WHERE s.customer_id = t.customer_id AND s.end_run IS NULL)"), params).rowcount
    # one run stages at a time: what is left is this run's rows and a failed run's leftovers,
    # and TRUNCATE gives their space back at once (a DELETE would wait for a VACUUM)
    empty = "TRUNCATE label_stage" if connection.dialect.name == "postgresql" else (
        "DELETE FROM label_stage")
    connection.execute(text(empty))
    return {"closed": int(closed), "opened": int(opened)}


def _last_purchase(connection: Connection) -> str:
    if connection.dialect.name == "postgresql":
        return "CAST(:as_of AS date) - t.recency_days"
    return "date(:as_of, '-' || t.recency_days || ' days')"
