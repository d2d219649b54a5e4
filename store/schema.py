"""The one schema of Insiders: tables written by the worker, read by the dashboard.

Portable between PostgreSQL (production, tests) and SQLite (embedded mode).
Migrations never import this module; they declare the columns they touch.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
# a run that found the same data, parameters and model version as the run it would follow:
# finished, recorded for the admin, but no new point of history (never the current run)
UNCHANGED = "unchanged"
RUN_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, UNCHANGED)
FINISHED_STATUSES = (SUCCEEDED, FAILED, UNCHANGED)
ACTIVE_STATUSES = (QUEUED, RUNNING)
RUN_TRIGGERS = ("schedule", "manual", "cli", "backfill")
EVENT_KINDS = ("entered", "exited")
ROLES = ("viewer", "admin")
TOKEN_SCOPES = ("read", "run")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TransactionBatch(Base):
    """One ingested file; the same content (sha256) is never loaded twice, nor an invoice."""

    __tablename__ = "transaction_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    profile: Mapped[str] = mapped_column(String(100))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    n_rows: Mapped[int] = mapped_column(Integer)
    n_accepted: Mapped[int] = mapped_column(Integer)
    n_rejected: Mapped[int] = mapped_column(Integer)
    rejected_by_reason: Mapped[dict] = mapped_column(JSON, default=dict)
    # rows of invoices an earlier batch holds: read, not stored again
    n_already_loaded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    min_invoice_date: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    max_invoice_date: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Transaction(Base):
    """A canonical transaction line as ingested (cleaning happens at run time)."""

    __tablename__ = "transactions"

    # keyed by (batch, line), no foreign key and no date index: each would cost bulk ingest a
    # step per row; a batch's rows are deleted with it by store.batches
    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # position of the line in its file: guest ids are assigned in order of first appearance
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # not indexed: ingest looks invoices up in batch_invoices, a row per invoice, not per line
    invoice_no: Mapped[str] = mapped_column(String(32))
    stock_code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(300), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    invoice_date: Mapped[datetime] = mapped_column(DateTime)
    unit_price: Mapped[float] = mapped_column(Float)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    country: Mapped[str | None] = mapped_column(String(100), nullable=True)


# The invoices each batch holds, for ingest to skip those already loaded: a row per invoice and
# piece of its file (an invoice two pieces share has two rows, hence no key), deleted with their
# batch (and emptied with the batches' table by TRUNCATE ... CASCADE). Indexing the
# transactions' invoice numbers instead cost the bulk load an index step per line, 40% of COPY.
BATCH_INVOICES = Table(
    "batch_invoices",
    Base.metadata,
    Column("batch_id", ForeignKey("transaction_batches.id", ondelete="CASCADE"), nullable=False),
    Column("invoice_no", String(32), nullable=False),
    Index("ix_batch_invoices_invoice_no", "invoice_no", "batch_id"),
)


class ModelVersion(Base):
    """A fitted segmentation model: an artifact runs score with, refitted less often."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fitted_as_of: Mapped[date] = mapped_column(Date)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    thresholds: Mapped[dict] = mapped_column(JSON, default=dict)
    clusters: Mapped[list] = mapped_column(JSON, default=list)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)


class Run(Base):
    """One segmentation run. At most one is queued or running (``active_slot`` is unique)."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # True while queued or running, NULL otherwise: a unique column admits one active run
    active_slot: Mapped[bool | None] = mapped_column(Boolean, nullable=True, unique=True)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    as_of: Mapped[date | None] = mapped_column(Date, nullable=True)
    refit: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    progress_stage: Mapped[str | None] = mapped_column(String(50), nullable=True)
    progress_percent: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    data_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    random_state: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    n_customers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_insiders: Mapped[int | None] = mapped_column(Integer, nullable=True)
    insiders_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    revenue_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    silhouette: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    report: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_runs_succeeded_order", "status", "as_of", "id"),)


class Cluster(Base):
    """A cluster of a run, named so that the name and colour persist across refits."""

    __tablename__ = "clusters"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    cluster: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(16))
    is_insiders: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    revenue_share: Mapped[float] = mapped_column(Float)
    profile: Mapped[dict] = mapped_column(JSON, default=dict)


class RunFile(Base):
    """A file made once when a run is published (compressed), so that a download of a run's
    file is one read: the Insiders CSV of the Report page, and what the dashboard compares
    runs with (:mod:`store.run_files`)."""

    __tablename__ = "run_files"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)  # of the text, before compression
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ViewBase(DeclarativeBase):
    """Views read as tables: made by the migrations (and with a schema made from the models, by
    the DDL :mod:`store.labels` attaches to :data:`Base`'s metadata), never created as tables."""

    metadata = MetaData()


class CustomerLabel(ViewBase):
    """A customer's cluster, Insiders flag and features in one published run: the view
    ``customer_labels`` over the spans of :class:`store.labels.LabelSpan`."""

    __tablename__ = "customer_labels"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cluster: Mapped[int] = mapped_column(Integer)
    is_insiders: Mapped[bool] = mapped_column(Boolean)
    gross_revenue: Mapped[float] = mapped_column(Float)
    recency_days: Mapped[int] = mapped_column(Integer)
    invoice_quantity: Mapped[int] = mapped_column(Integer)
    items_quantity: Mapped[int] = mapped_column(Integer)
    products_quantity: Mapped[int] = mapped_column(Integer)
    avg_ticket: Mapped[float] = mapped_column(Float)


class MembershipEvent(Base):
    """A customer entered or left Insiders in a run, compared with the previous run."""

    __tablename__ = "membership_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    previous_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    # 'feature' (the customer's own change crossed a threshold), 'model_update', 'new_customer'
    cause: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_membership_events_run_kind", "run_id", "kind"),
        Index("ix_membership_events_customer", "customer_id", "run_id"),
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # kept in the session at login; bumped on logout and password or role change, so that
    # every session signed in before no longer loads
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ApiToken(Base):
    """A token of the REST API: only its sha256 is stored; revoked tokens are kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Who did what and when (run triggers, user changes)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    username: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    details: Mapped[dict] = mapped_column(JSON, default=dict)


__all__ = [
    "ACTIVE_STATUSES",
    "EVENT_KINDS",
    "FAILED",
    "FINISHED_STATUSES",
    "QUEUED",
    "ROLES",
    "RUNNING",
    "RUN_STATUSES",
    "RUN_TRIGGERS",
    "SUCCEEDED",
    "TOKEN_SCOPES",
    "UNCHANGED",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Cluster",
    "CustomerLabel",
    "MembershipEvent",
    "ModelVersion",
    "Run",
    "Transaction",
    "TransactionBatch",
    "User",
    "ViewBase",
]
