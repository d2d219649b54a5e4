"""A run's forecasts as files of the run (:mod:`store.run_files`), named by the first customer
id they hold so that one customer's forecast, or one range of customers, is a few files:

- ``forecasts/<first id>``: every customer's three numbers, at most :data:`FILE_ROWS`
  customers, sorted by id (Parquet: ids as deltas, the numbers as whole numbers of
  :data:`DECIMALS`);
- ``forecasts/<first id>.notes``: the same customers' rows with a date or a reason (at risk,
  about to qualify), whole: a few percent of the customers, whose sentences Parquet compresses
  to a tenth of what they take as rows of a table.

A ``.notes`` name sorts between its numbers file and the next one, so the names of a range of
customers (:func:`file_names_between`) hold both.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from store import run_files
from store.schema import RunFile

FORECAST_COLUMNS: tuple[str, ...] = (
    "customer_id", "p_active", "expected_purchases", "expected_spend",
    "at_risk_on", "at_risk_reason", "qualifies_on", "qualify_reason",
)
NUMBER_COLUMNS = ("p_active", "expected_purchases", "expected_spend")
DATE_COLUMNS = ("at_risk_on", "qualifies_on")
TEXT_COLUMNS = ("at_risk_reason", "qualify_reason")
# stored to these decimals, finer than shown: a chance to a hundredth of a percent, purchases
# to a thousandth and spend to the cent
DECIMALS = {"p_active": 4, "expected_purchases": 3, "expected_spend": 2}
FILE_PREFIX = "forecasts/"
NOTES_SUFFIX = ".notes"
FILE_ROWS = 100_000  # customers per stored file: one customer's forecast reads one file
_ID_OFFSET = 2**63  # ids as unsigned numbers, so that file names sort as the ids they start at


def file_name(first_customer_id: int) -> str:
    """The name of the numbers file whose customers start at ``first_customer_id``."""
    return f"{FILE_PREFIX}{int(first_customer_id) + _ID_OFFSET:020d}"


def file_names_between(lo: int | None, hi: int | None) -> tuple[str, str]:
    """The names of the files of customers from ``lo`` to before ``hi`` lie in [first, last)."""
    return (FILE_PREFIX if lo is None else file_name(lo),
            FILE_PREFIX[:-1] + chr(ord(FILE_PREFIX[-1]) + 1) if hi is None else file_name(hi))


def noted(frame: pd.DataFrame) -> np.ndarray:
    """Which rows have a date or a reason."""
    found = np.zeros(len(frame), dtype=bool)
    for name in (*DATE_COLUMNS, *TEXT_COLUMNS):
        if name in frame:
            found |= frame[name].notna().to_numpy()
    return found


def write_files(connection: Connection, run_id: int, frame: pd.DataFrame) -> None:
    """Store ``frame`` (sorted by customer id) as run ``run_id``'s files."""
    for start in range(0, len(frame), FILE_ROWS):
        part = frame.iloc[start:start + FILE_ROWS]
        name = file_name(part["customer_id"].iloc[0])
        run_files.store_bytes(connection, run_id, name, _encode(part, NUMBER_COLUMNS),
                              compress=False)
        notes = part[noted(part)]
        if len(notes):
            run_files.store_bytes(connection, run_id, name + NOTES_SUFFIX,
                                  _encode(notes, FORECAST_COLUMNS[1:]), compress=False)


def stored_forecasts(connection: Connection, run_id: int,
                     customer_ids: Sequence[int] | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``run_id``'s files as ``customer_id`` and :data:`NUMBER_COLUMNS`, and as the notes
    (:func:`stored_notes`), of ``customer_ids`` only when given (sorted): only the files that
    can hold them are read."""
    names = _names(connection, run_id, customer_ids)
    return (_read(connection, run_id, names, ("customer_id", *NUMBER_COLUMNS), customer_ids),
            _read(connection, run_id, [name + NOTES_SUFFIX for name in names],
                  FORECAST_COLUMNS, customer_ids))


def stored_notes(connection: Connection, run_id: int,
                 customer_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The rows with a date or a reason (:data:`FORECAST_COLUMNS`) of run ``run_id``'s files,
    of ``customer_ids`` only when given (sorted)."""
    names = [name + NOTES_SUFFIX for name in _names(connection, run_id, customer_ids)]
    return _read(connection, run_id, names, FORECAST_COLUMNS, customer_ids)


def _names(connection: Connection, run_id: int,
           customer_ids: Sequence[int] | None) -> list[str]:
    """The run's numbers files, those that can hold ``customer_ids`` when given."""
    names = [name for name in connection.execute(
        select(RunFile.name).where(RunFile.run_id == int(run_id),
                                   RunFile.name.startswith(FILE_PREFIX, autoescape=True))
        .order_by(RunFile.name)).scalars() if not name.endswith(NOTES_SUFFIX)]
    if customer_ids is None or not names:
        return names
    starts = [int(name[len(FILE_PREFIX):]) - _ID_OFFSET for name in names]
    return sorted({names[max(bisect.bisect_right(starts, i) - 1, 0)] for i in customer_ids})


def _read(connection: Connection, run_id: int, names: list[str], columns: Sequence[str],
          customer_ids: Sequence[int] | None) -> pd.DataFrame:
    parts = [_decode(bytes(content), columns) for content in connection.execute(
        select(RunFile.content).where(RunFile.run_id == int(run_id), RunFile.name.in_(names))
        .order_by(RunFile.name)).scalars()] if names else []
    if not parts:
        return empty(columns)
    frame = pd.concat(parts, ignore_index=True)
    if customer_ids is not None:
        frame = frame[frame["customer_id"].isin(customer_ids)].reset_index(drop=True)
    return frame


def empty(columns: Sequence[str] = FORECAST_COLUMNS) -> pd.DataFrame:
    """No rows, with ``columns`` typed as the readers give them."""
    return pd.DataFrame({name: pd.Series(dtype=dtype(name)) for name in columns})


def dtype(name: str) -> str:
    if name == "customer_id":
        return "int64"
    return "float64" if name in NUMBER_COLUMNS else "object"


def _encode(frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    arrays = {"customer_id": pa.array(frame["customer_id"].to_numpy(dtype="int64"))}
    for name in columns:
        if name in NUMBER_COLUMNS:
            arrays[name] = _whole_numbers(frame, name)
        elif name in DATE_COLUMNS:
            arrays[name] = pa.array([_as_date(v) for v in _values(frame, name)], pa.date32())
        else:
            arrays[name] = pa.array([None if _missing(v) else str(v)
                                     for v in _values(frame, name)], pa.string())
    sink = pa.BufferOutputStream()
    # ids sorted: as deltas they take a twentieth of the space of a dictionary
    # (a dictionary pays only for the chance of being active, mostly close to 1)
    pq.write_table(pa.table(arrays), sink, compression="zstd", use_dictionary=["p_active"],
                   column_encoding={"customer_id": "DELTA_BINARY_PACKED"})
    return sink.getvalue().to_pybytes()


def _whole_numbers(frame: pd.DataFrame, name: str) -> pa.Array:
    values = (frame[name].to_numpy(dtype=float) if name in frame
              else np.full(len(frame), np.nan))
    missing = np.isnan(values)
    # whole numbers of the stored decimals compress better than the same values as floats
    return pa.array(np.rint(np.where(missing, 0.0, values) * 10 ** DECIMALS[name])
                    .astype("int64"), mask=missing)


def _decode(payload: bytes, columns: Sequence[str]) -> pd.DataFrame:
    table = pq.read_table(pa.BufferReader(payload))
    frame = pd.DataFrame({"customer_id": table.column("customer_id").to_numpy()
                          .astype("int64")})
    for name in columns[1:]:
        column = table.column(name)
        if name in NUMBER_COLUMNS:
            values = column.to_pandas().to_numpy(dtype=float)
            # files stored before held floats
            frame[name] = (values / 10 ** DECIMALS[name]
                           if pa.types.is_integer(column.type) else values)
        else:  # dates as ``datetime.date``, missing values as None
            frame[name] = pd.Series(column.to_pylist(), dtype=object)
    return frame


def _values(frame: pd.DataFrame, name: str) -> list:
    return frame[name].tolist() if name in frame else [None] * len(frame)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _as_date(value) -> date | None:
    if _missing(value) or pd.isna(value):
        return None
    return pd.Timestamp(value).date()
