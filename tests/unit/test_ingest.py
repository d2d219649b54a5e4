"""Ingest: the file variants users bring, file-level errors and row-level rejects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.columns import CANONICAL_COLUMNS
from pipeline.errors import IngestError
from pipeline.ingest import read_transactions, validate_transactions
from pipeline.synthetic import generate_transactions

UCI_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


@pytest.fixture(scope="module")
def uci() -> pd.DataFrame:
    return generate_transactions(120, seed=11)


def _csv(tmp_path, name: str, lines: list[str], encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _row(invoice="536365", code="85123A", desc="WHITE HEART", qty="6",
         date="2010-12-01 08:26:00", price="2.55", customer="17850", country="United Kingdom"):
    return ",".join([invoice, code, desc, qty, date, price, customer, country])


def _assert_one_line_error(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------- the variants users bring


def test_parquet_with_uci_names_and_timestamps(tmp_path, uci):
    path = tmp_path / "online_retail.parquet"
    uci.to_parquet(path)
    result = read_transactions(path)
    assert result.n_rows == len(uci) == result.n_accepted
    assert result.n_rejected == 0
    tx = result.transactions
    assert list(tx.columns) == ["line_no", *CANONICAL_COLUMNS]
    assert tx["line_no"].tolist() == list(range(len(uci)))
    assert str(tx["quantity"].dtype) == "int64"
    assert str(tx["invoice_date"].dtype) == "datetime64[ns]"
    assert str(tx["unit_price"].dtype) == "float64"
    assert str(tx["customer_id"].dtype) == "Int64"
    assert tx["customer_id"].isna().sum() == uci["CustomerID"].isna().sum()
    assert (tx["invoice_no"].to_numpy() == uci["InvoiceNo"].to_numpy()).all()
    assert (tx["invoice_date"].to_numpy() == uci["InvoiceDate"].to_numpy()).all()


def test_data_csv_month_first_dates(tmp_path, uci):
    raw = uci.copy()
    raw["InvoiceDate"] = raw["InvoiceDate"].dt.strftime("%-m/%-d/%Y %-H:%M")
    path = tmp_path / "data.csv"
    raw.to_csv(path, index=False)
    result = read_transactions(path)
    assert result.n_rejected == 0
    assert result.date_format == "%m/%d/%Y %H:%M"
    assert (result.transactions["invoice_date"].to_numpy() == uci["InvoiceDate"].to_numpy()).all()
    assert result.transactions["customer_id"].dropna().iloc[0] == uci["CustomerID"].dropna().iloc[0]


def test_data_csv_style_line_is_month_first(tmp_path):
    path = _csv(tmp_path, "data.csv", [UCI_HEADER, _row(date="12/1/2010 8:26", customer="17850.0")])
    tx = read_transactions(path).transactions
    assert tx["invoice_date"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert tx["customer_id"].iloc[0] == 17850


def test_day_first_dates_are_detected_from_evidence(tmp_path):
    lines = [UCI_HEADER, _row(date="12/1/2011 10:00"), _row(date="13/1/2011 10:00")]
    result = read_transactions(_csv(tmp_path, "export.csv", lines))
    assert result.n_rejected == 0
    assert result.transactions["invoice_date"].dt.month.tolist() == [1, 1]


def test_explicit_date_format_overrides_detection(tmp_path):
    path = _csv(tmp_path, "export.csv", [UCI_HEADER, _row(date="12/1/2011 10:00")])
    tx = read_transactions(path, date_format="%d/%m/%Y %H:%M").transactions
    assert tx["invoice_date"].iloc[0] == pd.Timestamp("2011-01-12 10:00")


def test_ecommerce_csv_latin1_short_dates_and_empty_ninth_column(tmp_path, uci):
    raw = uci.head(200).copy()
    raw["InvoiceDate"] = raw["InvoiceDate"].dt.strftime("%d-%b-%y")
    raw.loc[0, "Description"] = "CAFÉ SET £5"
    raw[""] = ""
    path = tmp_path / "Ecommerce.csv"
    raw.to_csv(path, index=False, encoding="latin-1")
    result = read_transactions(path)
    assert result.encoding == "latin-1"
    assert result.date_format == "%d-%b-%y"
    assert result.n_rejected == 0
    assert result.ignored_columns == ["Unnamed: 8"]
    tx = result.transactions
    assert tx["description"].iloc[0] == "CAFÉ SET £5"
    expected = uci.head(200)["InvoiceDate"].dt.normalize().to_numpy()
    assert (tx["invoice_date"].to_numpy() == expected).all()


def test_excel_workbook(tmp_path, uci):
    raw = uci.head(40)
    path = tmp_path / "Online Retail.xlsx"
    raw.to_excel(path, index=False)
    result = read_transactions(path)
    assert result.n_rejected == 0
    tx = result.transactions
    assert (tx["invoice_no"].to_numpy() == raw["InvoiceNo"].to_numpy()).all()
    assert (tx["quantity"].to_numpy() == raw["Quantity"].to_numpy()).all()
    assert np.allclose(tx["unit_price"].to_numpy(), raw["UnitPrice"].to_numpy())
    assert (tx["invoice_date"].to_numpy() == raw["InvoiceDate"].to_numpy()).all()


def test_semicolon_separated_with_decimal_comma(tmp_path):
    header = UCI_HEADER.replace(",", ";")
    line = "536365;85123A;HEART;6;2010-12-01 08:26;2,55;17850;United Kingdom"
    tx = read_transactions(_csv(tmp_path, "export.csv", [header, line])).transactions
    assert tx["unit_price"].iloc[0] == 2.55


def test_column_map_for_other_exports(tmp_path):
    header = "Order,Item,Name,Units,When,Each,Client,Nation"
    path = _csv(tmp_path, "shop.csv", [header, _row()])
    column_map = {
        "Order": "invoice_no", "Item": "stock_code", "Name": "description", "Units": "quantity",
        "When": "invoice_date", "Each": "unit_price", "Client": "customer_id", "Nation": "country",
    }
    result = read_transactions(path, column_map=column_map)
    assert result.n_accepted == 1
    assert result.transactions["stock_code"].iloc[0] == "85123A"


def test_online_retail_ii_names_are_recognised(tmp_path):
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country"
    result = read_transactions(_csv(tmp_path, "retail_ii.csv", [header, _row()]))
    assert result.column_mapping["Customer ID"] == "customer_id"
    assert result.column_mapping["Price"] == "unit_price"


def test_optional_columns_may_be_absent(tmp_path):
    header = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID"
    line = "536365,85123A,6,2010-12-01 08:26,2.55,17850"
    tx = read_transactions(_csv(tmp_path, "min.csv", [header, line])).transactions
    assert tx["country"].isna().all()
    assert tx["description"].isna().all()


def test_column_map_errors_name_the_problem(tmp_path):
    path = _csv(tmp_path, "data.csv", [UCI_HEADER, _row()])
    with pytest.raises(IngestError) as exc:
        read_transactions(path, column_map={"InvoiceNo": "order"})
    _assert_one_line_error(exc, "unknown column 'order'")
    with pytest.raises(IngestError) as exc:
        read_transactions(path, column_map={"Order": "invoice_no"})
    _assert_one_line_error(exc, "'Order'", "not in the file")


def test_two_columns_for_one_field_is_an_error(tmp_path):
    header = UCI_HEADER + ",Invoice"
    path = _csv(tmp_path, "data.csv", [header, _row() + ",536365"])
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "'InvoiceNo'", "'Invoice'", "invoice_no")


# ---------------------------------------------------------------- file-level problems


def test_missing_file(tmp_path):
    with pytest.raises(IngestError) as exc:
        read_transactions(tmp_path / "nope.csv")
    _assert_one_line_error(exc, "nope.csv", "not found")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(IngestError) as exc:
        read_transactions(tmp_path)
    _assert_one_line_error(exc, "directory")


def test_binary_file_is_not_a_table(tmp_path):
    path = tmp_path / "picture.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "picture.csv", "not a table")


def test_broken_parquet_and_workbook_are_not_tables(tmp_path):
    parquet = tmp_path / "broken.parquet"
    parquet.write_bytes(b"PAR1" + b"garbage" * 10)
    with pytest.raises(IngestError) as exc:
        read_transactions(parquet)
    _assert_one_line_error(exc, "broken.parquet", "not a readable Parquet table")
    workbook = tmp_path / "broken.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    with pytest.raises(IngestError) as exc:
        read_transactions(workbook)
    _assert_one_line_error(exc, "broken.xlsx", "not a readable Excel workbook")


def test_legacy_xls_is_explained(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "old.xls", ".xlsx")


def test_prose_is_missing_every_column(tmp_path):
    path = _csv(tmp_path, "notes.txt", ["Dear shop", "please send the invoices"])
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "notes.txt", "required column(s) missing", "invoice_no")


def test_ragged_text_is_not_a_table(tmp_path):
    path = _csv(tmp_path, "ragged.csv", ["a,b", "1,2", "1,2,3,4,5"])
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "ragged.csv", "not a table")


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    _assert_one_line_error(exc, "empty.csv", "empty")


def test_header_without_rows(tmp_path):
    with pytest.raises(IngestError) as exc:
        read_transactions(_csv(tmp_path, "header.csv", [UCI_HEADER]))
    _assert_one_line_error(exc, "header.csv", "no rows")


def test_missing_required_column_is_named(tmp_path):
    header = UCI_HEADER.replace("UnitPrice,", "")
    line = "536365,85123A,HEART,6,2010-12-01 08:26,17850,United Kingdom"
    with pytest.raises(IngestError) as exc:
        read_transactions(_csv(tmp_path, "noprice.csv", [header, line]))
    _assert_one_line_error(exc, "noprice.csv", "unit_price")
    assert "invoice_no" not in str(exc.value).split("(found")[0]


def test_wrong_encoding_given_by_the_user(tmp_path):
    path = _csv(tmp_path, "latin.csv", [UCI_HEADER, _row(desc="CAFÉ £5")], encoding="latin-1")
    with pytest.raises(IngestError) as exc:
        read_transactions(path, encoding="utf-8")
    _assert_one_line_error(exc, "latin.csv", "cannot be decoded as utf-8")
    assert read_transactions(path, encoding="latin-1").transactions["description"][0] == "CAFÉ £5"


def test_unknown_encoding(tmp_path):
    path = _csv(tmp_path, "data.csv", [UCI_HEADER, _row()])
    with pytest.raises(IngestError) as exc:
        read_transactions(path, encoding="no-such-codec")
    _assert_one_line_error(exc, "unknown encoding")


def test_utf16_with_bom_is_read(tmp_path):
    path = _csv(tmp_path, "utf16.csv", [UCI_HEADER, _row(desc="CAFÉ")], encoding="utf-16")
    result = read_transactions(path)
    assert result.encoding == "utf-16"
    assert result.transactions["description"][0] == "CAFÉ"


# ---------------------------------------------------------------- row-level problems

BAD_ROWS = {
    "unparseable_date": _row(date="not a date"),
    "non_numeric_quantity": _row(qty="six"),
    "non_integer_quantity": _row(qty="2.5"),
    "non_numeric_unit_price": _row(price="cheap"),
    "empty_invoice_no": _row(invoice=""),
    "empty_stock_code": _row(code=" "),
    "invalid_customer_id": _row(customer="ABC"),
}


@pytest.mark.parametrize("reason", sorted(BAD_ROWS))
def test_bad_row_is_rejected_with_its_reason(tmp_path, reason):
    lines = [UCI_HEADER, _row(), BAD_ROWS[reason], _row(invoice="536366")]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    assert result.n_rows == 3
    assert result.n_accepted == 2
    assert result.rejected_by_reason == {reason: 1}
    reject = result.rejects.iloc[0]
    assert reject["line_no"] == 1
    assert reject["reason"] == reason
    assert result.transactions["line_no"].tolist() == [0, 2]
    # raw values are kept as read
    raw = BAD_ROWS[reason].split(",")
    assert str(reject["quantity"]) == raw[3]


def test_missing_quantity_or_price_is_non_numeric(tmp_path):
    lines = [UCI_HEADER, _row(qty=""), _row(price="")]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    assert result.rejected_by_reason == {"non_numeric_quantity": 1, "non_numeric_unit_price": 1}


def test_a_row_with_several_problems_is_counted_once(tmp_path):
    lines = [UCI_HEADER, _row(invoice="", qty="x", price="y", date="never")]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    assert result.rejected_by_reason == {"empty_invoice_no": 1}
    assert result.n_accepted == 0


def test_negative_price_and_guest_rows_are_accepted_at_ingest(tmp_path):
    lines = [UCI_HEADER, _row(price="-11062.06"), _row(customer="")]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    assert result.n_rejected == 0
    assert result.transactions["unit_price"].iloc[0] == -11062.06
    assert result.transactions["customer_id"].isna().tolist() == [False, True]


def test_summary_is_json_safe_and_rejects_can_be_written(tmp_path):
    lines = [UCI_HEADER, _row(), _row(qty="x")]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    summary = json.loads(json.dumps(result.summary()))
    assert summary["n_rows"] == 2
    assert summary["rejected_by_reason"] == {"non_numeric_quantity": 1}
    out = result.write_rejects(tmp_path / "rejects.csv")
    written = pd.read_csv(out)
    assert written["reason"].tolist() == ["non_numeric_quantity"]
    assert written["line_no"].tolist() == [1]


_GOOD = {
    "InvoiceNo": st.sampled_from(["536365", "C536379", "A563185"]),
    "StockCode": st.sampled_from(["85123A", "POST", "22423"]),
    "Quantity": st.integers(-100, 100).map(str),
    "InvoiceDate": st.sampled_from(["2010-12-01 08:26:00", "2011-06-30", "2011-12-09 12:50"]),
    "UnitPrice": st.floats(-100, 100, allow_nan=False).map(lambda x: f"{x:.2f}"),
    "CustomerID": st.sampled_from(["17850", "12583.0", ""]),
}
_BAD = {
    "InvoiceNo": st.sampled_from(["", "  "]),
    "StockCode": st.sampled_from(["", " "]),
    "Quantity": st.sampled_from(["x", "1.5", "", "--3"]),
    "InvoiceDate": st.sampled_from(["yesterday", "", "2011-02-30"]),
    "UnitPrice": st.sampled_from(["free", "", "1.2.3"]),
    "CustomerID": st.sampled_from(["ABC", "12.5"]),
}


@st.composite
def _rows(draw):
    n = draw(st.integers(1, 30))
    rows, bad = [], []
    for _ in range(n):
        broken = draw(st.sets(st.sampled_from(sorted(_BAD)), max_size=2))
        rows.append({c: draw(_BAD[c] if c in broken else _GOOD[c]) for c in _GOOD})
        bad.append(bool(broken))
    return pd.DataFrame(rows, dtype="str"), bad


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows())
def test_no_row_is_ever_lost(data):
    frame, bad = data
    result = validate_transactions(frame)
    assert result.n_accepted + result.n_rejected == result.n_rows == len(frame)
    seen = sorted(result.transactions["line_no"].tolist() + result.rejects["line_no"].tolist())
    assert seen == list(range(len(frame)))
    assert sorted(result.rejects["line_no"].tolist()) == [i for i, b in enumerate(bad) if b]
    assert sum(result.rejected_by_reason.values()) == result.n_rejected


def test_out_of_range_numbers_and_utc_offsets(tmp_path):
    lines = [
        UCI_HEADER,
        _row(qty="1e30"),
        _row(customer="1e25"),
        _row(date="2011-01-01T10:00:00+01:00"),
        _row(date="2011-01-01 10:00:00"),
    ]
    result = read_transactions(_csv(tmp_path, "data.csv", lines))
    assert result.rejected_by_reason == {"non_integer_quantity": 1, "invalid_customer_id": 1}
    assert result.transactions["invoice_date"].tolist() == [
        pd.Timestamp("2011-01-01 09:00"), pd.Timestamp("2011-01-01 10:00")
    ]
