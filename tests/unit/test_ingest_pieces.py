"""Ingest of a file in pieces (``read_transaction_pieces``): a CSV file read a few rows at a
time gives what reading it whole gives (rows, rejects, line numbers, encoding, refusals), and
the date format found in the first piece holds for the rest of the file."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import IngestError
from pipeline.ingest import read_transaction_pieces, read_transactions

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _row(invoice="536365", desc="WHITE HEART", qty="6", date="2010-12-01 08:26:00",
         customer="17850") -> str:
    return ",".join([invoice, "85123A", desc, qty, date, "2.55", customer, "United Kingdom"])


def _write(tmp_path, lines: list[str], encoding: str = "utf-8", name: str = "data.csv"):
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))
    return path


def _joined(path, rows: int, **options):
    pieces = list(read_transaction_pieces(path, rows=rows, **options))
    rows_of = pd.concat([p.transactions for p in pieces], ignore_index=True)
    rejects = pd.concat([p.rejects for p in pieces], ignore_index=True)
    return pieces, rows_of, rejects


def test_a_csv_file_in_pieces_reads_as_it_reads_whole(tmp_path):
    lines = [_row(invoice=str(536365 + i), qty=str(i), customer=str(17850 + i % 3))
             for i in range(11)]
    lines[6] = _row(qty="many")  # rejected, in the third piece of three rows
    lines[9] = _row(date="not a date")
    path = _write(tmp_path, lines)
    whole = read_transactions(path)
    pieces, rows, rejects = _joined(path, rows=3)
    assert len(pieces) == 4
    assert [p.n_rows for p in pieces] == [3, 3, 3, 2]
    pd.testing.assert_frame_equal(rows, whole.transactions)
    pd.testing.assert_frame_equal(rejects, whole.rejects)
    assert rejects["line_no"].tolist() == [6, 9]


def test_a_latin1_byte_in_a_later_piece_reads_the_file_as_latin1(tmp_path):
    lines = [_row(invoice=str(536365 + i)) for i in range(7)] + [_row(desc="CAFÉ £5")]
    path = _write(tmp_path, lines, encoding="latin-1")
    pieces, rows, _ = _joined(path, rows=2)
    assert {p.encoding for p in pieces} == {"latin-1"}
    pd.testing.assert_frame_equal(rows, read_transactions(path).transactions)
    assert rows["description"].iloc[-1] == "CAFÉ £5"


def test_a_bad_byte_in_a_later_piece_of_a_utf8_file_is_refused_before_any_piece(tmp_path):
    path = tmp_path / "data.csv"
    lines = [HEADER, _row(desc="CAFÉ"), *[_row() for _ in range(5)], _row(desc="CAF\udcc9")]
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape"))
    pieces = read_transaction_pieces(path, rows=2)
    with pytest.raises(IngestError) as exc:
        next(pieces)
    assert "line(s) 8" in str(exc.value) and "\n" not in str(exc.value)


def test_a_quote_left_open_in_a_later_piece_names_its_line(tmp_path):
    lines = [_row(invoice=str(536365 + i)) for i in range(6)] + [_row(desc='"OPEN'), _row()]
    path = _write(tmp_path, lines)
    with pytest.raises(IngestError) as whole:
        read_transactions(path)
    with pytest.raises(IngestError) as pieces:
        list(read_transaction_pieces(path, rows=2))
    assert str(pieces.value) == str(whole.value)
    assert "line 8" in str(pieces.value)


def test_the_first_piece_s_date_format_holds_for_the_rest_of_the_file(tmp_path):
    # 13/12/2010 proves the file day-first; alone, 01/02/2011 would be read month-first
    lines = [_row(invoice="1", date="13/12/2010 10:00"), _row(invoice="2", date="14/12/2010"),
             _row(invoice="3", date="01/02/2011 09:00")]
    path = _write(tmp_path, lines)
    pieces, rows, _ = _joined(path, rows=2)
    assert [p.date_format for p in pieces] == ["%d/%m/%Y %H:%M"] * 2
    assert rows["invoice_date"].tolist() == pd.to_datetime(
        ["2010-12-13 10:00", "2010-12-14", "2011-02-01 09:00"], format="ISO8601").tolist()
    pd.testing.assert_frame_equal(rows, read_transactions(path).transactions)


def test_a_first_piece_with_no_date_read_does_not_choose_the_format(tmp_path):
    lines = [_row(invoice="1", date="soon"), _row(invoice="2", date="13.12.2010 10:00"),
             _row(invoice="3", date="01.02.2011")]
    path = _write(tmp_path, lines)
    pieces, rows, rejects = _joined(path, rows=1)
    assert rejects["line_no"].tolist() == [0]
    assert rows["invoice_date"].tolist() == pd.to_datetime(
        ["2010-12-13 10:00", "2011-02-01"], format="ISO8601").tolist()
    assert pieces[-1].date_format == "%d.%m.%Y %H:%M"


def test_a_header_only_csv_is_refused_as_when_read_whole(tmp_path):
    path = _write(tmp_path, [])
    with pytest.raises(IngestError) as exc:
        next(read_transaction_pieces(path, rows=2))
    assert "header but no rows" in str(exc.value)
