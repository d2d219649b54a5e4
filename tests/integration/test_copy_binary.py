"""PostgreSQL's binary COPY, as ingest writes transactions with it: every kind of value a
transaction holds (NULLs, the empty string, Unicode, quotes and newlines, integers at their
limits, floats to the last bit, timestamps before and after 2000 to the microsecond) reads back
as written, and as the CSV COPY writes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from store.bulk import copy_in, insert_frame
from store.copy_binary import column_types
from store.schema import Transaction

pytestmark = pytest.mark.integration

TEXTS = ["536365", "", "Ünïcødé ☃ 中文", 'a "quoted", comma', "line\nbreak\ttab\\slash", None]


def _frame() -> pd.DataFrame:
    n = len(TEXTS)
    return pd.DataFrame({
        "batch_id": np.full(n, 7),
        "line_no": [0, 1, 2, -(2**31), 2**31 - 1, 5],
        "invoice_no": [t if t is not None else "x" for t in TEXTS],
        "stock_code": [*TEXTS[::-1][1:], "85123A"],
        "description": TEXTS,
        "quantity": [6, -12, 0, -(2**31), 2**31 - 1, 1],
        "invoice_date": pd.to_datetime([
            "2010-12-01 08:26:00", "1970-01-01 00:00:00", "1999-12-31 23:59:59.999999",
            "2000-01-01 00:00:00.000001", "2011-12-09 12:50:00.5", "2100-02-28 01:02:03"],
            format="ISO8601"),
        "unit_price": [2.55, 0.1 + 0.2, 1e300, -0.0, 5e-324, -7.125],
        "customer_id": pd.array([17850, None, 2**62, -1, None, 0], dtype="Int64"),
        "country": ["United Kingdom", None, "", "EIRE", "Ünïcødé", None],
    })


def _stored(engine: Engine, binary: bool) -> pd.DataFrame:
    frame = _frame()
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE copied (LIKE transactions) ON COMMIT DROP"))
        types = column_types(Transaction.__table__) if binary else None
        copy_in(connection, "copied", frame, types=types)
        stored = pd.read_sql(text("SELECT * FROM copied ORDER BY line_no"), connection)
    return stored.set_index("line_no").sort_index()


def test_binary_rows_read_back_as_written_and_as_csv_rows(pg_engine: Engine) -> None:
    binary, csv = _stored(pg_engine, True), _stored(pg_engine, False)
    pd.testing.assert_frame_equal(binary, csv)
    expected = _frame().set_index("line_no").sort_index()
    for name in ("invoice_no", "stock_code", "description", "country"):
        written = [None if pd.isna(v) else v for v in expected[name]]
        assert [None if pd.isna(v) else v for v in binary[name]] == written, name
    assert list(binary["batch_id"]) == list(expected["batch_id"])
    assert list(binary["quantity"]) == list(expected["quantity"])
    assert list(binary["invoice_date"]) == list(expected["invoice_date"])
    prices, written = binary["unit_price"].to_numpy(), expected["unit_price"].to_numpy()
    assert prices.tobytes() == written.tobytes()  # to the bit, -0.0 and the subnormal too
    ids = binary["customer_id"].astype("Int64")
    assert ids.isna().tolist() == expected["customer_id"].isna().tolist()
    assert ids.dropna().tolist() == expected["customer_id"].dropna().tolist()


def test_an_integer_column_refuses_values_it_cannot_hold(pg_engine: Engine) -> None:
    frame = _frame().assign(quantity=[2**31, 0, 0, 0, 0, 0])
    with pg_engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE copied (LIKE transactions) ON COMMIT DROP"))
        with pytest.raises(ValueError, match="out of range"):
            insert_frame(connection, "copied", frame, columns=Transaction.__table__)
