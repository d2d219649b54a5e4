"""What goes into PostgreSQL by COPY comes back exactly: transactions, features, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from pipeline.clean import clean_transactions, load_profile
from pipeline.features import customer_features
from pipeline.ingest import read_transactions
from store.results import load_labels, publish_run_labels, write_labels
from store.transactions import ingest_file, load_transactions

pytestmark = pytest.mark.integration

AWKWARD_TEXT = [
    'say "cheese"',
    "tab\there",
    "two\nlines",
    "carriage\r\nreturn",
    "back\\slash \\N \\.",
    "\\.",
    "comma, semicolon; pipe|",
    "",
    "  padded  ",
    "ünïcødé ✓ 日本",
]


def _awkward_file(tmp_path, n_customers: int = 120):
    from pipeline.synthetic import generate_transactions

    raw = generate_transactions(n_customers, seed=11)
    rng = np.random.default_rng(5)
    picks = rng.choice(len(raw), size=len(AWKWARD_TEXT) * 3, replace=False)
    description = raw["Description"].astype(object)
    country = raw["Country"].astype(object)
    for position, index in enumerate(picks):
        description.iloc[index] = AWKWARD_TEXT[position % len(AWKWARD_TEXT)]
    description.iloc[picks[:4]] = None
    country.iloc[picks[-3:]] = None
    raw["Description"] = description.astype("str")
    raw["Country"] = country.astype("str")
    # prices with long binary expansions must come back bit for bit
    raw["UnitPrice"] = raw["UnitPrice"] * (1 + rng.random(len(raw)) / 3)
    path = tmp_path / "awkward.parquet"
    raw.to_parquet(path, index=False)
    return path


def _assert_round_trip(engine, path, profile: str) -> None:
    outcome = ingest_file(engine, path, profile=profile)
    assert outcome.created
    expected = read_transactions(path).transactions.reset_index(drop=True)
    loaded = load_transactions(engine)
    pd.testing.assert_frame_equal(loaded, expected, check_exact=True)
    cleaning = load_profile(profile)
    from_store = customer_features(clean_transactions(loaded, cleaning).transactions)
    from_file = customer_features(clean_transactions(expected, cleaning).transactions)
    pd.testing.assert_frame_equal(from_store, from_file, check_exact=True)


def test_transactions_and_features_round_trip(clean_db, tmp_path):
    path = _awkward_file(tmp_path)
    _assert_round_trip(clean_db, path, "default")
    loaded = load_transactions(clean_db)
    assert set(AWKWARD_TEXT) <= set(loaded["description"].dropna())
    assert loaded["description"].isna().sum() >= 4 and loaded["country"].isna().sum() >= 3


def test_second_batch_follows_the_first(clean_db, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,A,x,1,2011-01-01 10:00:00,1.5,12345,UK\n"
        "2,B,y,2,2011-01-02 10:00:00,2.5,,UK\n"
    )
    second = tmp_path / "second.csv"
    second.write_text(first.read_text() + "3,C,z,3,2011-01-03 10:00:00,3.5,12346,\n")
    ingest_file(clean_db, first, profile="default")
    outcome = ingest_file(clean_db, second, profile="default")
    assert (outcome.n_accepted, outcome.n_already_loaded) == (1, 2)  # invoices 1 and 2 are stored
    loaded = load_transactions(clean_db)
    assert loaded["line_no"].tolist() == list(range(3))
    assert loaded["invoice_no"].tolist() == ["1", "2", "3"]
    assert loaded["customer_id"].isna().tolist() == [False, True, False]
    assert pd.isna(loaded["country"].iloc[2])


@pytest.mark.parametrize("slice_rows", [None, 7], ids=["one slice", "slices of 7"])
def test_labels_round_trip_bit_for_bit(clean_db, monkeypatch, slice_rows):
    if slice_rows:  # written in slices, as a million customers are
        monkeypatch.setattr("store.results.WRITE_ROWS", slice_rows)
    rng = np.random.default_rng(2)
    n = 2_000
    labels = pd.DataFrame(
        {
            "cluster": rng.integers(0, 7, n),
            "is_insiders": rng.random(n) < 0.2,
            "gross_revenue": rng.gamma(2.0, 500.0, n),
            "recency_days": rng.integers(0, 400, n).astype("int64"),
            "invoice_quantity": rng.integers(1, 50, n).astype("int64"),
            "items_quantity": rng.integers(1, 5000, n).astype("int64"),
            "products_quantity": rng.integers(1, 300, n).astype("int64"),
            "avg_ticket": rng.random(n) / 7,
            "embedding_x": rng.normal(size=n) * 1e-7,
            "embedding_y": rng.normal(size=n) * 1e12,
        },
        index=pd.Index(np.arange(n, dtype="int64") + 12_000, name="customer_id"),
    )
    with clean_db.begin() as connection:
        connection.execute(text(
            "INSERT INTO runs (id, status, trigger, refit, queued_at, progress_percent,"
            " parameters, metrics, report, as_of) VALUES (1, 'succeeded', 'cli', false, now(),"
            " 100, '{}', '{}', '{}', '2011-12-09')"
        ))
        assert write_labels(connection, 1, labels) == n
    staged = load_labels(clean_db, 1, staged=True)  # with the map coordinates
    pd.testing.assert_frame_equal(staged, labels.loc[:, staged.columns], check_exact=True)
    with clean_db.begin() as connection:
        publish_run_labels(connection, 1)
    loaded = load_labels(clean_db, 1)  # from the spans: the recency counted back from the date
    assert list(loaded.columns) == [c for c in labels.columns if not c.startswith("embedding")]
    pd.testing.assert_frame_equal(loaded, labels.loc[:, loaded.columns], check_exact=True)


@pytest.mark.realdata
@pytest.mark.timeout(180)
def test_real_data_round_trip(clean_db, real_data_path):
    _assert_round_trip(clean_db, real_data_path, "online-retail")
