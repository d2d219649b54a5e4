"""Parity with the original analysis on the real Online Retail data (profile online-retail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import clean_transactions as clean
from pipeline.clean import load_profile
from pipeline.features import customer_features
from pipeline.ingest import read_transactions

pytestmark = pytest.mark.realdata

# gross_revenue, recency_days, invoice_quantity, items_quantity, products_quantity
EXPECTED = {
    17850: (5391.21, 372, 34, 1733, 297),
    12583: (6705.38, 2, 15, 5028, 232),
}
SIX = ["gross_revenue", "recency_days", "invoice_quantity", "items_quantity", "products_quantity"]


@pytest.fixture(scope="module")
def ingested(real_data_path):
    return read_transactions(real_data_path)


@pytest.fixture(scope="module")
def features(ingested) -> pd.DataFrame:
    cleaned = clean(ingested.transactions, load_profile("online-retail")).transactions
    return customer_features(cleaned)


def _assert_parity(features: pd.DataFrame) -> None:
    assert len(features) == 5695
    for customer, (revenue, recency, invoices, items, products) in EXPECTED.items():
        row = features.loc[customer]
        assert row["gross_revenue"] == pytest.approx(revenue, abs=1e-6)
        assert (row["recency_days"], row["invoice_quantity"]) == (recency, invoices)
        assert (row["items_quantity"], row["products_quantity"]) == (items, products)
        assert row["avg_ticket"] == pytest.approx(revenue / products)


def test_every_row_is_read(ingested):
    assert ingested.n_rows == 541_909
    assert ingested.n_rejected == 0


def test_parity_figures(features):
    _assert_parity(features)


def test_cleaning_counts(ingested):
    result = clean(ingested.transactions, load_profile("online-retail"))
    assert result.guest_id_range == (19000, 22709)  # 3,710 guest invoices
    assert result.dropped_by_reason["negative_price"] == 2
    assert result.n_dropped + len(result.transactions) == 541_909


def test_row_order_does_not_change_features(ingested, features):
    rng = np.random.default_rng(42)
    tx = ingested.transactions
    shuffled = tx.iloc[rng.permutation(len(tx))]
    cleaned = clean(shuffled, load_profile("online-retail")).transactions
    pd.testing.assert_frame_equal(customer_features(cleaned), features, check_exact=True)
    # and the features alone, on cleaned rows in any order
    again = cleaned.iloc[rng.permutation(len(cleaned))]
    pd.testing.assert_frame_equal(customer_features(again), features, check_exact=True)


def _formatted(dates: pd.Series, fmt: str) -> np.ndarray:
    codes, uniques = pd.factorize(dates)  # format each distinct timestamp once
    return uniques.strftime(fmt).to_numpy()[codes]


def test_csv_exports_give_the_same_features(tmp_path, real_data_path, features):
    raw = pd.read_parquet(real_data_path)
    data_csv = raw.assign(InvoiceDate=_formatted(raw["InvoiceDate"], "%-m/%-d/%Y %-H:%M"))
    data_csv.to_csv(tmp_path / "data.csv", index=False)
    ecommerce = raw.assign(InvoiceDate=_formatted(raw["InvoiceDate"], "%d-%b-%y"), extra="")
    ecommerce.to_csv(tmp_path / "Ecommerce.csv", index=False, encoding="latin-1",
                     header=[*raw.columns, ""])
    for name in ("data.csv", "Ecommerce.csv"):
        result = read_transactions(tmp_path / name)
        assert result.n_rejected == 0, name
        cleaned = clean(result.transactions, load_profile("online-retail")).transactions
        ours = customer_features(cleaned)
        _assert_parity(ours)
        pd.testing.assert_frame_equal(ours[SIX], features[SIX], check_exact=True)
