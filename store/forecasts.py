"""Forecasts of a run: per customer, the probability of still being an active customer, the
expected purchases and spend over the forecast horizon, and, for Insiders at risk of leaving and
customers about to qualify, the date and the reason.

A customer is at risk when ``at_risk_reason`` is set (``at_risk_on``, the day they would leave
if they buy nothing, may be empty when only their chance of being active is low), and about to
qualify when ``qualify_reason`` is set. The worker writes a run's forecasts in the transaction
that publishes the run (or that writes a partition's labels); the dashboard only reads them.

A run's forecasts are stored as files of the run (:mod:`store.forecast_files`): every
customer's three numbers, and apart the rows with a date or a reason; at a million customers a
row per customer and run took 143 MiB a day, the files take a few. Runs stored before keep
their rows in the ``forecasts`` table (every customer, or later only those with a date or a
reason), and every reader reads both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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

from store.bulk import read_frame
from store.forecast_files import (
    DATE_COLUMNS,
    DECIMALS,
    FILE_PREFIX,
    FORECAST_COLUMNS,
    NUMBER_COLUMNS,
    TEXT_COLUMNS,
    empty,
    stored_forecasts,
    stored_notes,
    write_files,
)
from store.schema import Base, CustomerLabel, Run

__all__ = ["DECIMALS", "FILE_PREFIX", "FORECAST_COLUMNS", "Forecast", "about_to_qualify",
           "at_risk", "empty_forecasts", "forecast_metrics", "insiders_forecasts",
           "read_forecasts", "write_forecasts"]
CHUNK = 500  # ids per IN list: SQLite caps the number of bound values


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
    return empty(FORECAST_COLUMNS)


def write_forecasts(connection: Connection, run_id: int, frame: pd.DataFrame) -> int:
    """Store ``frame``'s rows (columns :data:`FORECAST_COLUMNS`, ``customer_id`` as a column
    or the index; missing optional columns are empty) as run ``run_id``'s forecasts files,
    numbers rounded to :data:`DECIMALS`. Returns the rows."""
    if "customer_id" not in frame.columns:
        frame = frame.reset_index()
    frame = frame.sort_values("customer_id", kind="stable", ignore_index=True)
    frame = frame.assign(**{name: frame[name].astype(float).round(DECIMALS[name])
                            for name in NUMBER_COLUMNS if name in frame})
    write_files(connection, run_id, frame)
    return len(frame)


def read_forecasts(
    engine_or_connection: Engine | Connection, run_id: int,
    customer_ids: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Run ``run_id``'s forecasts (columns :data:`FORECAST_COLUMNS`), by customer id; only
    ``customer_ids`` when given. Dates are ``datetime.date`` (or None), numbers floats."""
    ids = None if customer_ids is None else sorted({int(i) for i in customer_ids})
    query = _select().where(Forecast.run_id == int(run_id))
    with _connected(engine_or_connection) as connection:
        numbers, notes = stored_forecasts(connection, run_id, ids)
        if ids is None:
            rows = _read(connection, [query.order_by(Forecast.customer_id)])
        else:
            rows = _read(connection, [
                query.where(Forecast.customer_id.in_(ids[start:start + CHUNK]))
                .order_by(Forecast.customer_id) for start in range(0, len(ids), CHUNK)])
        noted = _together(rows, notes)
    if numbers.empty:
        return noted
    rows = pd.concat([_as_forecasts(numbers), noted], ignore_index=True)
    return _none_for_missing(rows.drop_duplicates("customer_id", keep="last")  # with its reasons
                             .sort_values("customer_id", ignore_index=True))


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
    with engine.connect() as connection:
        numbers, notes = stored_forecasts(connection, run_id)
    if not numbers.empty:  # an Insider without a row in the table has numbers in the files
        stored = frame[["customer_id"]].merge(numbers, how="left", on="customer_id")
        for name in NUMBER_COLUMNS:
            frame[name] = frame[name].fillna(stored[name])
    if not notes.empty:  # and their date and reason, if any, in the notes files
        stored = frame[["customer_id"]].merge(notes, how="left", on="customer_id")
        for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
            found = stored[name].notna().to_numpy()
            values = frame[name].to_numpy(dtype=object).copy()
            values[found] = stored[name].to_numpy(dtype=object)[found]
            frame[name] = values
    return frame


def at_risk(engine_or_connection: Engine | Connection, run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s Insiders at risk of leaving, highest expected spend first."""
    return _sorted(_noted_where(engine_or_connection, run_id, "at_risk_reason"))


def forecast_metrics(engine: Engine, run_id: int, *, count_at_risk: bool = False
                     ) -> tuple[dict | None, int | None]:
    """Run ``run_id``'s forecast metrics (``runs.metrics["forecast"]``, None without) and, if
    asked, how many of its Insiders are at risk (from the notes files, or for runs stored
    before from the partial index of the rows at risk), reading neither the run's report nor
    every forecast."""
    columns = [Run.metrics["forecast"]]
    if count_at_risk:
        columns.append(select(func.count()).select_from(Forecast).where(
            Forecast.run_id == int(run_id), Forecast.at_risk_reason.is_not(None))
            .scalar_subquery())
    with engine.connect() as connection:
        row = connection.execute(select(*columns).where(Run.id == int(run_id))).first()
        if row is None:
            return None, None
        if not count_at_risk:
            return row[0], None
        notes = stored_notes(connection, run_id)
    return row[0], int(row[1]) + int(notes["at_risk_reason"].notna().sum())


def about_to_qualify(engine_or_connection: Engine | Connection, run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s customers about to qualify for Insiders, highest expected spend first."""
    return _sorted(_noted_where(engine_or_connection, run_id, "qualify_reason"))


def _noted_where(engine_or_connection: Engine | Connection, run_id: int,
                 reason: str) -> pd.DataFrame:
    """The run's forecasts with ``reason`` set: rows of the table (runs stored before) and of
    the notes files."""
    query = _select().where(Forecast.run_id == int(run_id),
                            getattr(Forecast, reason).is_not(None))
    with _connected(engine_or_connection) as connection:
        rows = _together(_read(connection, [query]), stored_notes(connection, run_id))
    return rows[rows[reason].notna().to_numpy()].reset_index(drop=True)


def _together(rows: pd.DataFrame, notes: pd.DataFrame) -> pd.DataFrame:
    if notes.empty:
        return rows
    if rows.empty:
        return _none_for_missing(notes.loc[:, list(FORECAST_COLUMNS)])
    return _none_for_missing(pd.concat([rows, notes], ignore_index=True)
                             .sort_values("customer_id", ignore_index=True))


def _select() -> Select:
    return select(*(getattr(Forecast, name) for name in FORECAST_COLUMNS))


@contextmanager
def _connected(engine_or_connection: Engine | Connection) -> Iterator[Connection]:
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as connection:
            yield connection
    else:
        yield engine_or_connection


def _read(engine_or_connection: Engine | Connection, queries: list[Select]) -> pd.DataFrame:
    with _connected(engine_or_connection) as connection:
        rows = [row for query in queries for row in connection.execute(query)]
    if not rows:
        return empty_forecasts()
    columns = list(zip(*rows, strict=True))
    frame = pd.DataFrame({name: list(values) for name, values in zip(FORECAST_COLUMNS, columns,
                                                                    strict=True)})
    frame["customer_id"] = frame["customer_id"].astype("int64")
    for name in NUMBER_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return _none_for_missing(frame)


def _none_for_missing(frame: pd.DataFrame) -> pd.DataFrame:
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _as_forecasts(numbers: pd.DataFrame) -> pd.DataFrame:
    frame = numbers.copy()
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
        frame[name] = None
    return frame.loc[:, list(FORECAST_COLUMNS)]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    # NULL spend last on both databases (PostgreSQL puts NULL first in a descending sort)
    return frame.sort_values(["expected_spend", "customer_id"], ascending=[False, True],
                             na_position="last", ignore_index=True)
