"""Issue 9: inputs that crashed ingest, broke the store's COPY or were read silently wrong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import IngestError
from pipeline.ingest import read_transactions, validate_transactions
from pipeline.row_rules import RowLimits

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
STORE_LIMITS = RowLimits(
    max_quantity=1_000_000,
    max_unit_price=100_000.0,
    max_length=(("invoice_no", 32), ("stock_code", 32), ("description", 300), ("country", 100)),
)


def _row(invoice="536365", code="85123A", desc="WHITE HEART", qty="6",
         date="12/1/2010 8:26", price="2.55", customer="17850", country="United Kingdom"):
    return ",".join([invoice, code, desc, qty, date, price, customer, country])


def _write(tmp_path, lines: list[str], name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return str(path)


def _frame(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "InvoiceNo": [str(536365 + i) for i in range(n)],
        "StockCode": ["85123A"] * n,
        "Description": ["WHITE HEART"] * n,
        "Quantity": ["6"] * n,
        "InvoiceDate": ["2010-12-01 08:26"] * n,
        "UnitPrice": ["2.55"] * n,
        "CustomerID": ["17850"] * n,
        "Country": ["United Kingdom"] * n,
    }
    return pd.DataFrame({**base, **columns})


def _accounted(result) -> None:
    assert result.n_accepted + result.n_rejected == result.n_rows


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("placeholder", ["12/31/9999", "1/1/1000", "31/12/9999 00:00"])
def test_a_placeholder_date_rejects_its_row_not_the_file(tmp_path, placeholder):
    path = _write(tmp_path, [HEADER, _row(), _row(invoice="536366", date=placeholder)])
    result = read_transactions(path)
    _accounted(result)
    assert result.n_accepted == 1
    assert result.rejected_by_reason == {"date_out_of_range": 1}


def test_an_out_of_range_timestamp_in_parquet_rejects_its_row(tmp_path):
    frame = _frame(InvoiceDate=[None, None])
    frame["InvoiceDate"] = np.array(["2010-12-01T08:26", "9999-12-31"], dtype="datetime64[us]")
    frame.to_parquet(tmp_path / "data.parquet")
    result = read_transactions(tmp_path / "data.parquet")
    assert result.n_accepted == 1
    assert result.rejected_by_reason == {"date_out_of_range": 1}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_an_all_blank_date_column_rejects_every_row(tmp_path, suffix):
    frame = _frame(InvoiceDate=[None, None, None])
    path = tmp_path / f"data.{suffix}"
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
    result = read_transactions(path)
    assert result.n_accepted == 0
    assert result.rejected_by_reason == {"unparseable_date": 3}


# ---------------------------------------------------------------- sizes and numbers


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("Description", "x" * 301, "description_too_long"),
        ("InvoiceNo", "9" * 33, "invoice_no_too_long"),
        ("StockCode", "A" * 33, "stock_code_too_long"),
        ("Country", "C" * 101, "country_too_long"),
        ("Quantity", str(2**31), "quantity_out_of_range"),
        ("Quantity", "-1000001", "quantity_out_of_range"),
        ("UnitPrice", "1e308", "unit_price_out_of_range"),
        ("UnitPrice", "-100000.01", "unit_price_out_of_range"),
        ("UnitPrice", "inf", "non_numeric_unit_price"),
        ("Quantity", "nan", "non_numeric_quantity"),
        ("Description", "NUL\x00BYTE", "nul_character_in_text"),
    ],
)
def test_values_the_store_cannot_hold_reject_their_row(column, value, reason):
    good = "1" if column in ("Quantity", "UnitPrice") else "a"
    frame = _frame(**{column: [good, value]})
    result = validate_transactions(frame, limits=STORE_LIMITS)
    _accounted(result)
    assert result.n_accepted == 1
    assert result.rejected_by_reason == {reason: 1}
    assert result.rejects["line_no"].tolist() == [1]


def test_values_at_the_limits_are_accepted():
    frame = _frame(
        Description=["x" * 300], InvoiceNo=["9" * 32], StockCode=["A" * 32], Country=["C" * 100],
        Quantity=["-1000000"], UnitPrice=["100000"],
    )
    assert validate_transactions(frame, limits=STORE_LIMITS).n_accepted == 1


def test_limits_are_the_callers_choice():
    frame = _frame(UnitPrice=["500"], Quantity=["7"])
    assert validate_transactions(frame, limits=RowLimits(max_unit_price=400)).n_rejected == 1
    assert validate_transactions(frame, limits=RowLimits(max_quantity=5)).n_rejected == 1
    assert validate_transactions(frame, limits=RowLimits()).n_accepted == 1


def test_default_limits_reject_an_absurd_price():
    result = validate_transactions(_frame(UnitPrice=["1e308", "2.5"]))
    assert result.rejected_by_reason == {"unit_price_out_of_range": 1}


# ---------------------------------------------------------------- quotes


def test_a_stray_quote_is_reported_with_its_line_not_swallowing_lines(tmp_path):
    lines = [HEADER, _row(), _row(invoice="536366", desc='"BROKEN')]
    lines += [_row(invoice=str(536367 + i)) for i in range(59)]
    lines += [_row(invoice="536999", desc='END"')]
    with pytest.raises(IngestError) as exc:
        read_transactions(_write(tmp_path, lines))
    message = str(exc.value)
    assert "\n" not in message
    assert "line 3 " in message and "quote" in message


def test_a_quote_left_open_at_the_end_names_its_line(tmp_path):
    lines = [HEADER, _row(), _row(), _row(invoice="536366", desc='"BROKEN')]
    with pytest.raises(IngestError) as exc:
        read_transactions(_write(tmp_path, lines))
    assert "line 4 " in str(exc.value)


def test_quoted_commas_and_doubled_quotes_are_read(tmp_path):
    lines = [HEADER, _row(desc='"SET OF 3, ""RED"" HEARTS"'), _row(desc='"A,B"')]
    result = read_transactions(_write(tmp_path, lines))
    assert result.transactions["description"].tolist() == ['SET OF 3, "RED" HEARTS', "A,B"]


# ---------------------------------------------------------------- encodings


def test_one_bad_byte_in_a_utf8_file_is_reported_not_reread_as_latin1(tmp_path):
    path = tmp_path / "data.csv"
    lines = [HEADER, _row(desc="CAFÉ"), _row(), _row(desc="CAF\udcc9")]
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape"))
    with pytest.raises(IngestError) as exc:
        read_transactions(path)
    message = str(exc.value)
    assert "\n" not in message
    assert "line(s) 4" in message and "--encoding latin-1" in message
    result = read_transactions(path, encoding="latin-1")
    assert result.transactions["description"][0] == "CAFÃ\x89"


def test_a_file_wholly_in_latin1_is_still_read_as_latin1(tmp_path):
    path = tmp_path / "Ecommerce.csv"
    path.write_bytes("\n".join([HEADER, _row(desc="CAFÉ £5")]).encode("latin-1"))
    result = read_transactions(path)
    assert result.encoding == "latin-1"
    assert result.transactions["description"][0] == "CAFÉ £5"


def test_a_wrong_encoding_given_names_the_lines(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("\n".join([HEADER, _row(), _row(desc="CAFÉ")]).encode("latin-1"))
    with pytest.raises(IngestError) as exc:
        read_transactions(path, encoding="utf-8")
    assert "line(s) 3" in str(exc.value)
