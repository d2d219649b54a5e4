"""Features as of a date: the six of the original, the extras, day precision, row order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import PROFILES, clean_transactions
from pipeline.columns import FEATURE_COLUMNS
from pipeline.errors import PipelineInputError
from pipeline.features import (
    ALL_FEATURE_COLUMNS,
    EXTRA_FEATURE_COLUMNS,
    customer_features,
    resolve_as_of,
)
from pipeline.ingest import validate_transactions
from pipeline.synthetic import generate_transactions


def _clean(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, invoice_no, quantity, unit_price, invoice_date)."""
    frame = pd.DataFrame(
        rows, columns=["customer_id", "invoice_no", "quantity", "unit_price", "invoice_date"]
    )
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"]).astype("datetime64[ns]")
    frame["stock_code"] = "22423"
    frame["description"] = "ITEM"
    frame["country"] = "United Kingdom"
    return frame.astype({"customer_id": "int64", "quantity": "int64", "unit_price": "float64"})


EXAMPLE = _clean(
    [
        (1, "A", 2, 3.0, "2011-01-10 09:00"),
        (1, "A", 1, 4.5, "2011-01-10 09:00"),
        (1, "B", 10, 0.5, "2011-03-01 17:30"),
        (1, "CB", -4, 0.5, "2011-03-05 10:00"),
        (2, "D", 1, 100.0, "2011-03-31 23:59"),
        (3, "CE", -1, 9.0, "2011-02-01 12:00"),  # only a return: left out
        (4, "F", 5, 2.0, "2011-04-01 08:00"),  # after a 2011-03-31 as-of
    ]
)


def test_the_six_features_and_the_extras_by_hand():
    f = customer_features(EXAMPLE, as_of="2011-03-31")
    assert f.index.tolist() == [1, 2]
    assert f.index.name == "customer_id"
    assert list(f.columns) == list(FEATURE_COLUMNS + EXTRA_FEATURE_COLUMNS)
    one, two = f.loc[1], f.loc[2]
    assert one["gross_revenue"] == pytest.approx(2 * 3.0 + 4.5 + 5.0)
    assert one["recency_days"] == 30  # 2011-03-01 -> 2011-03-31
    assert one["invoice_quantity"] == 2
    assert one["items_quantity"] == 13
    assert one["products_quantity"] == 3
    assert one["avg_ticket"] == pytest.approx(15.5 / 3)
    assert one["returns_count"] == 1
    assert one["returns_quantity"] == 4
    assert one["returns_value"] == pytest.approx(2.0)
    assert one["tenure_days"] == 80  # 2011-01-10 -> 2011-03-31
    assert one["purchase_frequency"] == pytest.approx(2 / 81)
    assert two["recency_days"] == 0  # 23:59 on the as-of day counts, at day precision
    assert two["returns_count"] == 0
    assert two["returns_value"] == 0.0


def test_types():
    f = customer_features(EXAMPLE)
    assert str(f.index.dtype) == "int64"
    ints = ["recency_days", "invoice_quantity", "items_quantity", "products_quantity",
            "returns_count", "returns_quantity", "tenure_days"]
    for column in ALL_FEATURE_COLUMNS:
        assert str(f[column].dtype) == ("int64" if column in ints else "float64"), column


def test_default_as_of_is_the_latest_day_in_the_data():
    assert resolve_as_of(EXAMPLE, None) == dt.date(2011, 4, 1)
    f = customer_features(EXAMPLE)
    assert f.index.tolist() == [1, 2, 4]
    assert f.loc[4, "recency_days"] == 0
    assert f.loc[1, "recency_days"] == 31


def test_default_as_of_counts_returns_too():
    clean = _clean([(1, "A", 1, 1.0, "2011-01-01"), (1, "CA", -1, 1.0, "2011-01-05")])
    assert customer_features(clean).loc[1, "recency_days"] == 4


def test_rows_after_as_of_are_ignored():
    early = customer_features(EXAMPLE, as_of=dt.date(2011, 1, 31))
    assert early.index.tolist() == [1]
    assert early.loc[1, "invoice_quantity"] == 1
    assert early.loc[1, "returns_count"] == 0
    assert customer_features(EXAMPLE, as_of="2010-12-31").empty


@pytest.mark.parametrize(
    "value",
    ["2011-03-31", dt.date(2011, 3, 31), dt.datetime(2011, 3, 31, 18, 0),
     pd.Timestamp("2011-03-31 07:00")],
)
def test_as_of_forms(value):
    assert resolve_as_of(EXAMPLE, value) == dt.date(2011, 3, 31)


def test_bad_inputs():
    with pytest.raises(PipelineInputError, match="YYYY-MM-DD"):
        resolve_as_of(EXAMPLE, "31/03/2011")
    with pytest.raises(PipelineInputError, match="no transactions"):
        resolve_as_of(EXAMPLE.iloc[:0], None)
    with pytest.raises(PipelineInputError, match="unit_price"):
        customer_features(EXAMPLE.drop(columns="unit_price"))
    guests = EXAMPLE.astype({"customer_id": "Int64"})
    guests.loc[0, "customer_id"] = pd.NA
    with pytest.raises(PipelineInputError, match="clean the transactions first"):
        customer_features(guests)


@pytest.fixture(scope="module")
def synthetic_clean() -> pd.DataFrame:
    tx = validate_transactions(generate_transactions(400, seed=21)).transactions
    return clean_transactions(tx, PROFILES["online-retail"]).transactions


def _reference(clean: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The six features the plain way, for comparison."""
    rows = clean[clean["invoice_date"].dt.normalize() <= pd.Timestamp(as_of)]
    p = rows[rows["quantity"] > 0].assign(value=lambda d: d["quantity"] * d["unit_price"])
    g = p.groupby("customer_id")
    return pd.DataFrame(
        {
            "gross_revenue": g["value"].sum(),
            "recency_days": (pd.Timestamp(as_of) - g["invoice_date"].max().dt.normalize()).dt.days,
            "invoice_quantity": g["invoice_no"].nunique(),
            "items_quantity": g["quantity"].sum(),
            "products_quantity": g["quantity"].size(),
            "avg_ticket": g["value"].mean(),
        }
    )


@pytest.mark.parametrize("as_of", [None, "2011-06-15"])
def test_matches_a_plain_reference(synthetic_clean, as_of):
    day = resolve_as_of(synthetic_clean, as_of)
    ours = customer_features(synthetic_clean, as_of)
    ref = _reference(synthetic_clean, day)
    pd.testing.assert_frame_equal(
        ours[list(FEATURE_COLUMNS)], ref, check_dtype=False, check_index_type=False
    )


def test_row_order_does_not_matter(synthetic_clean):
    expected = customer_features(synthetic_clean)
    rng = np.random.default_rng(0)
    for _ in range(3):
        shuffled = synthetic_clean.iloc[rng.permutation(len(synthetic_clean))]
        pd.testing.assert_frame_equal(customer_features(shuffled), expected, check_exact=True)
