"""Forecasts of a run: per customer, the probability of still being an active customer, the
expected purchases and spend over the forecast horizon, and, for Insiders at risk of leaving and
customers about to qualify, the date and the reason.

A customer is at risk when ``at_risk_reason`` is set (``at_risk_on``, the day they would leave
if they buy nothing, may be empty when only their chance of being active is low), and about to
qualify when ``qualify_reason`` is set. The worker writes a run's forecasts in the transaction
that publishes the run (or that writes a partition's labels); the dashboard only reads them.

Every customer's three numbers are stored as the run's files ``forecasts/<first id>`` (Parquet,
at most :data:`FILE_ROWS` customers each, sorted by id), and only the customers with a date or a
reason as rows of the ``forecasts`` table: at a million customers a row per customer and run
took 143 MiB a day, the files take a few. Runs stored before keep every customer as a row, and
read as they did.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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

from store import run_files
from store.bulk import insert_frame, read_frame
from store.schema import Base, CustomerLabel, Run, RunFile

FORECAST_COLUMNS: tuple[str, ...] = (
    "customer_id", "p_active", "expected_purchases", "expected_spend",
    "at_risk_on", "at_risk_reason", "qualifies_on", "qualify_reason",
)
NUMBER_COLUMNS = ("p_active", "expected_purchases", "expected_spend")
DATE_COLUMNS = ("at_risk_on", "qualifies_on")
TEXT_COLUMNS = ("at_risk_reason", "qualify_reason")
CHUNK = 500  # ids per IN list: SQLite caps the number of bound values
WRITE_ROWS = 100_000  # forecasts written per slice
# stored to these decimals, finer than shown: a chance to a hundredth of a percent, purchases
# to a thousandth and spend to the cent (the files are half the size of full floats)
DECIMALS = {"p_active": 4, "expected_purchases": 3, "expected_spend": 2}
FILE_PREFIX = "forecasts/"
FILE_ROWS = 100_000  # customers per stored file: one customer's forecast reads one file
_ID_OFFSET = 2**63  # ids as unsigned numbers, so that file names sort as the ids they start at


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
    """Store ``frame``'s rows (columns :data:`FORECAST_COLUMNS`, ``customer_id`` as a column
    or the index; missing optional columns are empty) as run ``run_id``'s forecasts: the
    numbers of all as files, the rows with a date or a reason in the table, numbers rounded to
    :data:`DECIMALS`. Returns the rows."""
    if "customer_id" not in frame.columns:
        frame = frame.reset_index()
    frame = frame.sort_values("customer_id", kind="stable", ignore_index=True)
    frame = frame.assign(**{name: frame[name].astype(float).round(DECIMALS[name])
                            for name in NUMBER_COLUMNS if name in frame})
    noted = frame[_noted(frame)]
    # in slices, as a run's labels are: the date and text columns are Python objects
    for start in range(0, len(noted), WRITE_ROWS):
        _write_slice(connection, run_id, noted.iloc[start:start + WRITE_ROWS])
    for start in range(0, len(frame), FILE_ROWS):
        part = frame.iloc[start:start + FILE_ROWS]
        run_files.store_bytes(connection, run_id, file_name(part["customer_id"].iloc[0]),
                              _encode_numbers(part), compress=False)
    return len(frame)


def file_name(first_customer_id: int) -> str:
    """The name of the forecasts file whose customers start at ``first_customer_id``."""
    return f"{FILE_PREFIX}{int(first_customer_id) + _ID_OFFSET:020d}"


def file_names_between(lo: int | None, hi: int | None) -> tuple[str, str]:
    """The names of the files of customers from ``lo`` to before ``hi`` lie in [first, last)."""
    return (FILE_PREFIX if lo is None else file_name(lo),
            FILE_PREFIX[:-1] + chr(ord(FILE_PREFIX[-1]) + 1) if hi is None else file_name(hi))


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
    ids = None if customer_ids is None else sorted({int(i) for i in customer_ids})
    query = _select().where(Forecast.run_id == int(run_id))
    with _connected(engine_or_connection) as connection:
        numbers = stored_numbers(connection, run_id, ids)
        if ids is None:
            noted = _read(connection, [query.order_by(Forecast.customer_id)])
        else:
            noted = _read(connection, [
                query.where(Forecast.customer_id.in_(ids[start:start + CHUNK]))
                .order_by(Forecast.customer_id) for start in range(0, len(ids), CHUNK)])
    if numbers.empty:
        return noted
    rows = pd.concat([_as_forecasts(numbers), noted], ignore_index=True)
    return _none_for_missing(rows.drop_duplicates("customer_id", keep="last")  # with its reasons
                             .sort_values("customer_id", ignore_index=True))


def stored_numbers(connection: Connection, run_id: int,
                   customer_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The numbers of run ``run_id``'s forecasts files (``customer_id`` and
    :data:`NUMBER_COLUMNS`), of ``customer_ids`` only when given (sorted): only the files that
    can hold them are read."""
    names = connection.execute(
        select(RunFile.name).where(RunFile.run_id == int(run_id),
                                   RunFile.name.startswith(FILE_PREFIX, autoescape=True))
        .order_by(RunFile.name)).scalars().all()
    if customer_ids is not None and names:
        starts = [int(name[len(FILE_PREFIX):]) - _ID_OFFSET for name in names]
        names = sorted({names[max(bisect.bisect_right(starts, i) - 1, 0)]
                        for i in customer_ids})
    parts = [_decode_numbers(bytes(content)) for content in connection.execute(
        select(RunFile.content).where(RunFile.run_id == int(run_id), RunFile.name.in_(names))
        .order_by(RunFile.name)).scalars()] if names else []
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=_dtype(name))
                             for name in ("customer_id", *NUMBER_COLUMNS)})
    frame = pd.concat(parts, ignore_index=True)
    if customer_ids is not None:
        frame = frame[frame["customer_id"].isin(customer_ids)].reset_index(drop=True)
    return frame


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
        numbers = stored_numbers(connection, run_id)
    if not numbers.empty:  # an Insider without a row in the table has numbers in the files
        stored = frame[["customer_id"]].merge(numbers, how="left", on="customer_id")
        for name in NUMBER_COLUMNS:
            frame[name] = frame[name].fillna(stored[name])
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


def _noted(frame: pd.DataFrame) -> np.ndarray:
    """Which rows have a date or a reason (kept as rows of the table)."""
    noted = np.zeros(len(frame), dtype=bool)
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
        if name in frame:
            noted |= frame[name].notna().to_numpy()
    return noted


def _encode_numbers(frame: pd.DataFrame) -> bytes:
    columns = {"customer_id": frame["customer_id"].to_numpy(dtype="int64")}
    for name in NUMBER_COLUMNS:
        columns[name] = (frame[name].to_numpy(dtype=float) if name in frame
                         else np.full(len(frame), np.nan))
    sink = pa.BufferOutputStream()
    # ids sorted: as deltas they take a twentieth of the space of a dictionary
    pq.write_table(pa.table(columns), sink, compression="zstd", use_dictionary=NUMBER_COLUMNS,
                   column_encoding={"customer_id": "DELTA_BINARY_PACKED"})
    return sink.getvalue().to_pybytes()


def _decode_numbers(payload: bytes) -> pd.DataFrame:
    return pq.read_table(pa.BufferReader(payload)).to_pandas()


def _as_forecasts(numbers: pd.DataFrame) -> pd.DataFrame:
    frame = numbers.copy()
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
        frame[name] = None
    return frame.loc[:, list(FORECAST_COLUMNS)]


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
