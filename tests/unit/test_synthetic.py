"""The synthetic generator: deterministic, realistic, streaming, and readable by ingest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import read_transactions, validate_transactions
from pipeline.synthetic import (
    UCI_COLUMNS,
    generate_transactions,
    iter_transaction_chunks,
    write_synthetic,
)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_transactions(2500, seed=4)


def test_same_seed_same_rows_other_seed_other_rows():
    a = generate_transactions(200, seed=1)
    pd.testing.assert_frame_equal(a, generate_transactions(200, seed=1))
    assert not a.equals(generate_transactions(200, seed=2))


def test_rows_do_not_depend_on_chunking(data):
    chunks = list(iter_transaction_chunks(2500, seed=4, customers_per_chunk=1000))
    assert len(chunks) == 3
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), data)


def test_uci_columns_and_types(data):
    assert tuple(data.columns) == UCI_COLUMNS
    assert str(data["Quantity"].dtype) == "int64"
    assert str(data["InvoiceDate"].dtype) == "datetime64[ns]"
    assert str(data["UnitPrice"].dtype) == "float64"
    assert str(data["CustomerID"].dtype) == "float64"


def test_passes_ingest_without_rejects(data):
    result = validate_transactions(data)
    assert result.n_rejected == 0
    assert result.n_accepted == len(data)


def test_invoices_are_unique_to_one_customer_and_date(data):
    per_invoice = data.groupby("InvoiceNo").agg(
        customers=("CustomerID", lambda s: s.nunique(dropna=False)),
        dates=("InvoiceDate", "nunique"),
    )
    assert (per_invoice["customers"] == 1).all()
    assert (per_invoice["dates"] == 1).all()


def test_spend_is_skewed(data):
    known = data[data["CustomerID"].notna() & (data["Quantity"] > 0)]
    revenue = (known["Quantity"] * known["UnitPrice"]).groupby(known["CustomerID"]).sum()
    top = revenue.sort_values(ascending=False).head(len(revenue) // 10)
    assert 0.4 < top.sum() / revenue.sum() < 0.75


def test_returns_guests_and_non_products(data):
    returns = data[data["InvoiceNo"].str.startswith("C")]
    assert len(returns) > 0.005 * len(data)
    assert (returns["Quantity"] < 0).all()
    assert 0.15 < data["CustomerID"].isna().mean() < 0.4
    codes = set(data["StockCode"])
    assert {"POST", "DOT", "M", "D"} <= codes
    assert data["Description"].isna().any()


def test_countries_and_dates(data):
    share = data.drop_duplicates("CustomerID")["Country"].value_counts(normalize=True)
    assert share.index[0] == "United Kingdom"
    assert share.iloc[0] > 0.8
    assert len(share) >= 8
    dates = data["InvoiceDate"]
    assert dates.min() >= pd.Timestamp("2010-12-01")
    assert dates.max() < pd.Timestamp("2011-12-10")
    assert dates.dt.month.nunique() == 12
    assert not (dates.dt.day_of_week == 5).any()


def test_prices_are_plausible(data):
    products = data[data["StockCode"].str.match(r"^\d{5}[A-Z]?$")]
    price = products.loc[products["UnitPrice"] > 0, "UnitPrice"]
    assert 1.0 < price.median() < 5.0
    assert (np.round(price, 2) == price).all()


def test_write_synthetic_streams_to_parquet(tmp_path):
    path = tmp_path / "synthetic.parquet"
    rows = write_synthetic(path, 2100, seed=4, customers_per_chunk=1000)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == rows
    assert meta.num_row_groups == 3  # one per chunk: never the whole set in memory
    result = read_transactions(path)
    assert result.n_rows == rows
    assert result.n_rejected == 0
    pd.testing.assert_frame_equal(pd.read_parquet(path), generate_transactions(2100, seed=4))


def test_needs_a_customer():
    with pytest.raises(ValueError, match="at least 1"):
        generate_transactions(0)
