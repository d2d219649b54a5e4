"""Forecasts of a run: per customer, the probability of still being an active customer, the
expected purchases and spend over the forecast horizon, and, for Insiders at risk of leaving and
customers about to qualify, the date and the reason.

A customer is at risk when ``at_risk_reason`` is set (``at_risk_on``, the day they would leave
if they buy nothing, may be empty when only their chance of being active is low), and about to
qualify when ``qualify_reason`` is set. The worker writes a run's forecasts in the transaction
that publishes the run; the dashboard only reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    and_,
    cast,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.bulk import insert_frame, read_frame
from store.schema import Base, CustomerLabel, Run

FORECAST_COLUMNS: tuple[str, ...] = (
    "customer_id", "p_active", "expected_purchases", "expected_spend",
    "at_risk_on", "at_risk_reason", "qualifies_on", "qualify_reason",
)
NUMBER_COLUMNS = ("p_active", "expected_purchases", "expected_spend")
DATE_COLUMNS = ("at_risk_on", "qualifies_on")
TEXT_COLUMNS = ("at_risk_reason", "qualify_reason")
CHUNK = 500  # ids per IN list: SQLite caps the number of bound values
WRITE_ROWS = 100_000  # forecasts written per slice


class Forecast(Base):
    """A customer's forecast in one run."""

    __tablename__ = "forecasts"
    __table_args__ = (  # the Insiders at risk of a run, without reading its every forecast
        Index("ix_forecasts_at_risk", "run_id", postgresql_where=text("at_risk_reason IS NOT NULL"),
              sqlite_where=text("at_risk_reason IS NOT NULL")),
    )

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    p_active: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_purchases: Mapped[float | None] = mapped_column(Float, nullable=True)
    expected_spend: Mapped[float | None] = mapped_column(Float, nullable=True)
    at_risk_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    at_risk_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    qualifies_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    qualify_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


def empty_forecasts() -> pd.DataFrame:
    """A frame with :data:`FORECAST_COLUMNS` and no rows, typed as :func:`read_forecasts`'."""
    frame = pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in FORECAST_COLUMNS})
    return frame


def write_forecasts(connection: Connection, run_id: int, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows (columns :data:`FORECAST_COLUMNS`, ``customer_id`` as a column
    or the index; missing optional columns are empty) as run ``run_id``'s forecasts."""
    if "customer_id" not in frame.columns:
        frame = frame.reset_index()
    # in slices, as a run's labels are: the date and text columns are Python objects
    return sum(_write_slice(connection, run_id, frame.iloc[start:start + WRITE_ROWS])
               for start in range(0, len(frame), WRITE_ROWS))


def _write_slice(connection: Connection, run_id: int, frame: pd.DataFrame) -> int:
    table = pd.DataFrame({"run_id": np.full(len(frame), int(run_id), dtype="int64"),
                          "customer_id": frame["customer_id"].to_numpy(dtype="int64")})
    for name in NUMBER_COLUMNS:
        table[name] = (frame[name].to_numpy(dtype=float) if name in frame
                       else np.full(len(frame), np.nan))
    for name in DATE_COLUMNS:
        table[name] = [_iso_date(v) for v in frame[name]] if name in frame else None
    for name in TEXT_COLUMNS:
        table[name] = ([None if _missing(v) else str(v) for v in frame[name]]
                       if name in frame else None)
    return insert_frame(connection, Forecast.__tablename__, table)


def read_forecasts(
    engine_or_connection: Engine | Connection, run_id: int,
    customer_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Run ``run_id``'s forecasts (columns :data:`FORECAST_COLUMNS`), by customer id; only
    ``customer_ids`` when given. Dates are ``datetime.date`` (or None), numbers floats."""
    query = _select().where(Forecast.run_id == int(run_id))
    if customer_ids is None:
        return _read(engine_or_connection, [query.order_by(Forecast.customer_id)])
    ids = sorted({int(i) for i in customer_ids})
    queries = [query.where(Forecast.customer_id.in_(ids[start:start + CHUNK]))
               .order_by(Forecast.customer_id) for start in range(0, len(ids), CHUNK)]
    return _read(engine_or_connection, queries)


def insiders_forecasts(engine: Engine, run_id: int,
                       label_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Run ``run_id``'s Insiders with their forecasts (:data:`FORECAST_COLUMNS`, as
    :func:`read_forecasts` gives them, empty for an Insider without one) and ``label_columns``
    of their labels, in no order: one query, read by COPY on PostgreSQL (a run forecasts every
    customer, and its Insiders are a few percent of them)."""
    label = CustomerLabel
    columns = [label.customer_id, *(getattr(label, name) for name in label_columns)]
    columns += [cast(getattr(Forecast, name), String).label(name) if name in DATE_COLUMNS
                else getattr(Forecast, name) for name in FORECAST_COLUMNS[1:]]
    query = (select(*columns).select_from(label)
             .outerjoin(Forecast, and_(Forecast.run_id == label.run_id,
                                       Forecast.customer_id == label.customer_id))
             .where(label.run_id == int(run_id), label.is_insiders))
    frame = read_frame(engine, query, probe=True, serial=True)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    for name in NUMBER_COLUMNS:
        frame[name] = frame[name].astype(float)
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):  # mostly empty: only the values present
        present = frame[name].notna().to_numpy()
        values = np.full(len(frame), None, dtype=object)
        values[present] = [date.fromisoformat(v[:10]) if name in DATE_COLUMNS else v
                           for v in frame[name].to_numpy()[present].tolist()]
        frame[name] = values
    return frame


def at_risk(engine_or_connection: Engine | Connection, run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s Insiders at risk of leaving, highest expected spend first."""
    query = (_select().where(Forecast.run_id == int(run_id),
                             Forecast.at_risk_reason.is_not(None))
             .order_by(Forecast.expected_spend.desc(), Forecast.customer_id))
    return _sorted(_read(engine_or_connection, [query]))


def forecast_metrics(engine: Engine, run_id: int, *, count_at_risk: bool = False
                     ) -> tuple[dict | None, int | None]:
    """Run ``run_id``'s forecast metrics (``runs.metrics["forecast"]``, None without) and, if
    asked, how many of its Insiders are at risk (from the partial index of the rows at risk,
    not the run's every forecast), in one query that reads neither the run's report nor a
    forecast."""
    columns = [Run.metrics["forecast"]]
    if count_at_risk:
        columns.append(select(func.count()).select_from(Forecast).where(
            Forecast.run_id == int(run_id), Forecast.at_risk_reason.is_not(None))
            .scalar_subquery())
    with engine.connect() as connection:
        row = connection.execute(select(*columns).where(Run.id == int(run_id))).first()
    if row is None:
        return None, None
    return row[0], (int(row[1]) if count_at_risk else None)


def about_to_qualify(engine_or_connection: Engine | Connection, run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s customers about to qualify for Insiders, highest expected spend first."""
    query = (_select().where(Forecast.run_id == int(run_id),
                             Forecast.qualify_reason.is_not(None))
             .order_by(Forecast.expected_spend.desc(), Forecast.customer_id))
    return _sorted(_read(engine_or_connection, [query]))


def _select() -> Select:
    return select(*(getattr(Forecast, name) for name in FORECAST_COLUMNS))


def _read(engine_or_connection: Engine | Connection, queries: list[Select]) -> pd.DataFrame:
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as connection:
            rows = [row for query in queries for row in connection.execute(query)]
    else:
        rows = [row for query in queries for row in engine_or_connection.execute(query)]
    if not rows:
        return empty_forecasts()
    columns = list(zip(*rows, strict=True))
    frame = pd.DataFrame({name: list(values) for name, values in zip(FORECAST_COLUMNS, columns,
                                                                    strict=True)})
    frame["customer_id"] = frame["customer_id"].astype("int64")
    for name in NUMBER_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    for name in DATE_COLUMNS:
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    # NULL spend last on both databases (PostgreSQL puts NULL first in a descending sort)
    return frame.sort_values(["expected_spend", "customer_id"], ascending=[False, True],
                             na_position="last", ignore_index=True)


def _dtype(name: str) -> str:
    if name == "customer_id":
        return "int64"
    return "float64" if name in NUMBER_COLUMNS else "object"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _iso_date(value) -> str | None:
    if _missing(value) or pd.isna(value):
        return None
    return pd.Timestamp(value).date().isoformat()
