"""Cleaning profiles: guest ids, drops counted by reason, profiles as data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import (
    PROFILES,
    CleaningProfile,
    clean_transactions,
    load_profile,
    profile_from_dict,
)
from pipeline.columns import CANONICAL_COLUMNS
from pipeline.errors import PipelineInputError, ProfileError
from pipeline.ingest import validate_transactions
from pipeline.synthetic import generate_transactions

ONLINE_RETAIL = PROFILES["online-retail"]


def _tx(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (invoice_no, stock_code, quantity, unit_price, customer_id, country)."""
    columns = ["invoice_no", "stock_code", "quantity", "unit_price", "customer_id", "country"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "line_no", np.arange(len(frame), dtype="int64"))
    frame["description"] = "ITEM"
    frame["invoice_date"] = pd.Timestamp("2011-05-01 10:00")
    frame["customer_id"] = frame["customer_id"].astype("Int64")
    return frame[["line_no", *CANONICAL_COLUMNS]]


def test_guest_ids_follow_first_appearance_of_the_invoice():
    tx = _tx(
        [
            ("B1", "1", 1, 1.0, None, "United Kingdom"),
            ("K1", "1", 1, 1.0, 17850, "United Kingdom"),
            ("A1", "1", 1, 1.0, None, "United Kingdom"),
            ("B1", "2", 1, 1.0, None, "United Kingdom"),
            ("C1", "1", 1, 1.0, None, "United Kingdom"),
        ]
    )
    out = clean_transactions(tx, ONLINE_RETAIL)
    assert out.transactions["customer_id"].tolist() == [19000, 17850, 19001, 19000, 19002]
    assert out.guest_id_range == (19000, 19002)


def test_guest_ids_are_assigned_before_any_filtering():
    tx = _tx(
        [
            ("G1", "POST", 1, 18.0, None, "United Kingdom"),  # dropped later, still numbered
            ("G2", "1", 1, 1.0, None, "United Kingdom"),
            ("G3", "1", 1, 0.01, None, "United Kingdom"),  # dropped later, still numbered
            ("G4", "1", 1, 1.0, None, "United Kingdom"),
        ]
    )
    out = clean_transactions(tx, ONLINE_RETAIL)
    assert out.transactions["customer_id"].tolist() == [19001, 19003]


def test_guest_ids_use_line_order_not_frame_order():
    tx = _tx([("X", "1", 1, 1.0, None, "UK"), ("Y", "1", 1, 1.0, None, "UK")])
    shuffled = tx.iloc[::-1]
    out = clean_transactions(shuffled, ONLINE_RETAIL).transactions
    assert out["invoice_no"].tolist() == ["X", "Y"]
    assert out["customer_id"].tolist() == [19000, 19001]


def test_guest_ids_never_merge_into_real_customers():
    tx = _tx([("G", "1", 1, 1.0, None, "UK"), ("K", "1", 1, 1.0, 19000, "UK")])
    out = clean_transactions(tx, ONLINE_RETAIL)
    assert out.transactions["customer_id"].tolist() == [19001, 19000]
    # no collision: the profile's start is used literally, even below a large real id
    tx = _tx([("G", "1", 1, 1.0, None, "UK"), ("K", "1", 1, 1.0, 50000, "UK")])
    assert clean_transactions(tx, ONLINE_RETAIL).transactions["customer_id"].tolist() == [
        19000, 50000
    ]


def test_each_dropped_row_is_counted_once_under_its_first_reason():
    tx = _tx(
        [
            ("1", "1", 1, -11062.06, 17850, "United Kingdom"),  # negative price
            ("2", "1", 1, 0.03, 17850, "United Kingdom"),  # below 0.04
            ("3", "POST", 1, 18.0, 17850, "United Kingdom"),
            ("4", "m", 1, 1.0, 17850, "United Kingdom"),  # codes are case-sensitive: m, not M
            ("5", "1", 1, 1.0, 17850, "Unspecified"),
            ("6", "1", 1, 1.0, 17850, "European Community"),
            ("7", "1", 1, 1.0, 16446, "United Kingdom"),
            ("8", "B", 1, -5.0, None, "Unspecified"),  # three reasons: counted as negative price
            ("9", "1", -3, 1.0, 17850, "United Kingdom"),  # a return: kept
            ("10", "1", 2, 0.04, 17850, "United Kingdom"),  # exactly the minimum: kept
            ("11", "pOST", 2, 1.0, 17850, "United Kingdom"),  # not an excluded code
        ]
    )
    out = clean_transactions(tx, ONLINE_RETAIL)
    assert out.dropped_by_reason == {
        "negative_price": 2,
        "unit_price_below_min": 1,
        "excluded_stock_code": 2,
        "excluded_country": 2,
        "excluded_customer": 1,
    }
    assert out.transactions["invoice_no"].tolist() == ["9", "10", "11"]
    assert out.n_dropped + len(out.transactions) == len(tx)


def test_output_columns_and_types():
    tx = _tx([("1", "1", 1, 1.0, None, "UK"), ("2", "1", 1, 1.0, 12346, "UK")])
    out = clean_transactions(tx, ONLINE_RETAIL).transactions
    assert list(out.columns) == list(CANONICAL_COLUMNS)
    assert str(out["customer_id"].dtype) == "int64"


def test_default_profile_drops_guests_and_free_lines():
    tx = _tx(
        [
            ("1", "1", 1, 1.0, None, "UK"),
            ("2", "1", 1, 0.0, 12346, "UK"),
            ("3", "POST", 1, 18.0, 12346, "Unspecified"),
        ]
    )
    out = clean_transactions(tx, PROFILES["default"])
    assert out.dropped_by_reason["missing_customer_id"] == 1
    assert out.dropped_by_reason["unit_price_below_min"] == 1
    assert out.transactions["invoice_no"].tolist() == ["3"]


def test_synthetic_rows_all_accounted_for():
    raw = generate_transactions(150, seed=5)
    tx = validate_transactions(raw).transactions
    for profile in PROFILES.values():
        out = clean_transactions(tx, profile)
        assert out.n_dropped + len(out.transactions) == len(tx)
        assert out.transactions["unit_price"].min() >= profile.min_unit_price
        assert not out.transactions["stock_code"].isin(profile.excluded_stock_codes).any()


def test_missing_column_is_named():
    tx = _tx([("1", "1", 1, 1.0, 1, "UK")]).drop(columns="country")
    with pytest.raises(PipelineInputError, match="country"):
        clean_transactions(tx, ONLINE_RETAIL)


# ---------------------------------------------------------------- profiles as data


def test_online_retail_profile_is_the_original():
    p = load_profile("online-retail")
    assert p.guest_id_start == 19000
    assert p.excluded_stock_codes == {
        "POST", "D", "DOT", "M", "S", "AMAZONFEE", "m", "DCGSSBOY", "DCGSSGIRL", "PADS", "B", "CRUK"
    }
    assert p.excluded_countries == {"European Community", "Unspecified"}
    assert p.min_unit_price == 0.04
    assert p.excluded_customers == {16446}
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.min_unit_price = 0.0  # type: ignore[misc]


def test_profile_round_trips_through_json(tmp_path):
    path = tmp_path / "retail.json"
    path.write_text(json.dumps(ONLINE_RETAIL.to_dict()))
    assert load_profile(str(path)) == ONLINE_RETAIL


def test_profile_from_yaml_extending_a_builtin(tmp_path):
    path = tmp_path / "my-shop.yaml"
    path.write_text("extends: online-retail\nexcluded_countries: [Unspecified]\n")
    p = load_profile(path)
    assert p.name == "my-shop"
    assert p.excluded_countries == {"Unspecified"}
    assert p.guest_id_start == 19000


def test_profile_defaults_when_fields_are_left_out():
    p = profile_from_dict({"name": "bare"})
    assert p == CleaningProfile(name="bare")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: x\ncolour: red\n", "unknown profile field(s): colour"),
        ("name: x\nmin_unit_price: cheap\n", "invalid profile value"),
        ("name: x\nexcluded_stock_codes: POST\n", "invalid profile value"),
        ("extends: nothing\n", "extends unknown profile"),
        ("- just\n- a list\n", "mapping"),
        ("name: [unclosed\n", "not a readable profile"),
    ],
)
def test_bad_profile_files(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_profile(str(path))


def test_unknown_profile_name():
    with pytest.raises(ProfileError, match="unknown cleaning profile 'retail'"):
        load_profile("retail")
