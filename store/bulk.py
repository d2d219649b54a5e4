"""Bulk transfer: ``COPY`` in and out as CSV that Arrow writes and parses in C++ on
PostgreSQL, one ``executemany`` (in) or column-wise rows (out) on SQLite (the embedded mode).

The CSV conventions both ways are PostgreSQL's: an unquoted empty field is NULL, a quoted
``""`` is the empty string; every text value is quoted, so quotes, tabs, newlines and
backslashes pass through as they are. Floats are written and read at shortest round-trip
precision, so they come back bit for bit. A table whose definition is given and whose column
types :mod:`store.copy_binary` encodes (the transactions) goes in PostgreSQL's binary format,
which the server parses faster.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Engine, Select, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import CompileError

from store import copy_binary

COPY_BATCH_ROWS = 100_000


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table with the types COPY expects (NaN and NA become NULL)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
            # PostgreSQL keeps microseconds; Arrow would print nine fraction digits
            micros = table.column(index).cast(pa.timestamp("us", column.type.tz), safe=False)
            table = table.set_column(index, column.name, micros)
    return table.replace_schema_metadata(None)


def copy_in(connection: Connection, table_name: str, frame: pd.DataFrame, *,
            types: dict[str, str] | None = None) -> None:
    """``COPY table (frame's columns) FROM STDIN``, fed in blocks of ``COPY_BATCH_ROWS`` rows:
    CSV, or PostgreSQL's binary format given every column's binary type
    (:func:`store.copy_binary.column_types`)."""
    if frame.empty:
        return
    table = arrow_table(frame)
    columns = ", ".join(table.column_names)
    raw = connection.connection.driver_connection
    kind = "csv" if types is None else "binary"
    sql = f"COPY {table_name} ({columns}) FROM STDIN WITH (FORMAT {kind})"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for block in _csv_blocks(table) if types is None else _binary_blocks(table, types):
            copy.write(block)


def _csv_blocks(table: pa.Table) -> Iterator[memoryview]:
    options = pa_csv.WriteOptions(include_header=False)
    for batch in table.to_batches(max_chunksize=COPY_BATCH_ROWS):
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(batch, sink, write_options=options)
        yield memoryview(sink.getvalue())


def _binary_blocks(table: pa.Table, types: dict[str, str]) -> Iterator[bytes | memoryview]:
    yield copy_binary.SIGNATURE
    for batch in table.to_batches(max_chunksize=COPY_BATCH_ROWS):
        yield copy_binary.encode_rows(pa.Table.from_batches([batch]), types)
    yield copy_binary.TRAILER


def insert_frame(connection: Connection, table_name: str, frame: pd.DataFrame, *,
                 columns: Table | None = None) -> int:
    """Append ``frame``'s rows to ``table_name``: COPY on PostgreSQL (binary when ``columns``,
    the table's definition, has only types :mod:`store.copy_binary` encodes), executemany on
    SQLite."""
    if frame.empty:
        return 0
    if connection.dialect.name == "postgresql":
        types = None if columns is None else copy_binary.column_types(columns)
        copy_in(connection, table_name, frame, types=types)
        return len(frame)
    frame = frame.copy()
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            # the text SQLAlchemy's SQLite DateTime writes and reads back
            frame[name] = frame[name].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    values = frame.astype(object).where(frame.notna(), None)
    rows = list(values.itertuples(index=False, name=None))
    columns = ", ".join(frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    connection.exec_driver_sql(f"INSERT INTO {table_name} ({columns}) VALUES ({marks})", rows)
    return len(frame)


def copy_out(connection: Connection, query: str, column_types: dict[str, pa.DataType]) -> pa.Table:
    """The rows of ``query`` (selecting exactly ``column_types``' columns, in order) as Arrow."""
    raw = connection.connection.driver_connection
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
        for block in copy:  # one message per row: copy each out rather than keep them all
            buffer.write(block)
    names = list(column_types)
    if not buffer.tell():
        return pa.table({name: pa.array([], type=kind) for name, kind in column_types.items()})
    return pa_csv.read_csv(
        pa.py_buffer(buffer.getbuffer()),
        read_options=pa_csv.ReadOptions(column_names=names),
        convert_options=pa_csv.ConvertOptions(
            column_types=column_types,
            null_values=[""],
            true_values=["t"],
            false_values=["f"],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


# "named" so that a literal % (modulo) is not doubled as for the driver's format style
_COPY_DIALECT = postgresql.dialect(paramstyle="named")
_ARROW_TYPES = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string()}


def _arrow_types(query: Select) -> dict[str, pa.DataType] | None:
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


def _copy_sql(query: Select) -> str | None:
    """``query`` with its parameters inlined (COPY takes none), or None if one cannot be."""
    try:
        return str(query.compile(dialect=_COPY_DIALECT, compile_kwargs={"literal_binds": True}))
    except CompileError:
        return None


PROBE_PLANS_OFF = ("enable_hashjoin", "enable_mergejoin", "enable_bitmapscan", "enable_material")


def read_frame(engine: Engine, query: Select, *, probe: bool = False,
               serial: bool = False) -> pd.DataFrame:
    """The rows of ``query`` as a frame: COPY into Arrow on PostgreSQL when every column has
    a plain type (several times faster than driver rows for big label sets), rows otherwise.

    ``probe``: the query joins a few thousand rows of one run to another run by customer id;
    PostgreSQL would rather hash the whole other run (about 3x slower), and through the spans of
    ``customer_labels`` it takes a run for a few hundred rows (its range test gets a default
    estimate) and scans it once per row (minutes at 100k customers), so for this one statement
    only index probes are left: no hash or merge join, no bitmap scan, nothing materialized.
    ``serial``: no parallel workers either (for
    a read of a few thousand rows their start costs more than they save, on busy cores most).
    """
    if engine.dialect.name == "postgresql":  # the settings hold for COPY or rows alike
        with engine.begin() as conn:
            if probe:
                for plan in PROBE_PLANS_OFF:
                    conn.exec_driver_sql(f"SET LOCAL {plan} = off")
            if serial:
                conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return frame_in(conn, query)
    with engine.connect() as conn:
        return frame_in(conn, query)


def frame_in(connection: Connection, query: Select) -> pd.DataFrame:
    """:func:`read_frame` in the caller's transaction."""
    types = _arrow_types(query) if connection.dialect.name == "postgresql" else None
    sql = _copy_sql(query) if types is not None else None
    if sql is not None:
        return copy_out(connection, sql, types).to_pandas()
    result = connection.execute(query)
    keys, rows = list(result.keys()), result.all()
    # column-wise: building a frame from tens of thousands of Row objects is ~10x slower
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in keys]
    return pd.DataFrame({key: _column(values) for key, values in zip(keys, columns, strict=True)})


def _column(values: tuple) -> np.ndarray | list:
    array = np.asarray(values)
    return list(values) if array.dtype == object else array
