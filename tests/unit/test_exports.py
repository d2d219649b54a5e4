"""Files for other tools: header row of snake_case names, numbers as numbers, ISO dates; the
CSV text is what pandas writes."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.exports import (
    changes_filename,
    changes_table,
    insiders_filename,
    insiders_table,
    to_csv,
)


def _labels() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [12346, 12347, 12348], "cluster": [0, 1, 0],
        "is_insiders": [True, False, True],
        "gross_revenue": [3842.5812345, 10.0, 77183.6], "recency_days": [3.0, 40.0, 325.0],
        "invoice_quantity": [7, 1, 1], "items_quantity": [2458, 1, 74215],
        "products_quantity": [103, 1, 1], "avg_ticket": [23.6817211, 10.0, 77183.6],
    }).set_index("customer_id")


def test_insiders_csv_reads_back_as_numbers() -> None:
    table = insiders_table(_labels(), as_of=date(2011, 12, 9), run_id=7,
                           cluster_names={0: "Top spenders"})
    text = to_csv(table)
    header = text.splitlines()[0]
    assert header.startswith("customer_id,cluster,cluster_name,gross_revenue")
    back = pd.read_csv(io.StringIO(text), parse_dates=["as_of"])
    assert back["customer_id"].tolist() == [12348, 12346]  # highest revenue first
    assert back["gross_revenue"].tolist() == [77183.6, 3842.58]
    assert back["avg_ticket"].tolist() == [77183.6, 23.68]
    for column in ("recency_days", "items_quantity", "run_id"):
        assert pd.api.types.is_integer_dtype(back[column]), column
    assert back["as_of"].dt.date.tolist() == [date(2011, 12, 9)] * 2
    assert set(back["cluster_name"]) == {"Top spenders"}
    assert "," not in text.splitlines()[1].split(",")[3]  # no thousands separator
    assert insiders_filename("2011-12-09", 7) == "insiders-run-7-as-of-2011-12-09.csv"


def test_changes_csv_names_the_runs_and_keeps_signs_plain() -> None:
    moves = pd.DataFrame({
        "customer_id": [1, 2], "kind": ["exited", "entered"], "cause": ["inactivity", None],
        "reason": ["Left: no purchase for 120 days", "Entered, with a comma"],
        **{f"{side}_{f}": [100.123, None] for side in ("before", "after", "change")
           for f in ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")},
    })
    moves["change_gross_revenue"] = [-78.456, 6620.0]
    old, new = {"id": 3, "as_of": date(2011, 9, 30)}, {"id": 5, "as_of": date(2011, 12, 9)}
    text = to_csv(changes_table(moves, old, new))
    back = pd.read_csv(io.StringIO(text))
    assert list(back.columns[:8]) == ["run_from", "as_of_from", "run_to", "as_of_to",
                                      "customer_id", "change", "cause", "reason"]
    assert back["change_gross_revenue"].tolist() == [6620.0, -78.46]
    assert pd.api.types.is_float_dtype(back["change_gross_revenue"])
    assert set(back["as_of_from"]) == {"2011-09-30"} and set(back["run_to"]) == {5}
    assert "−" not in text
    assert changes_filename(old, new) == "insiders-changes-run-3-2011-09-30-to-run-5-2011-12-09.csv"


_TEXT = st.text(st.sampled_from(list("ab ,\"'\n\r;é£-0")), max_size=6)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e16, 1e-5, 123456789.125, 0.1 + 0.2, 3842.58])


@st.composite
def _tables(draw) -> pd.DataFrame:
    rows = draw(st.integers(0, 6))

    def column(values):
        return draw(st.lists(values, min_size=rows, max_size=rows))

    day = st.dates(date(1990, 1, 1), date(2030, 12, 31))
    kinds = {
        "int": lambda: pd.Series(column(st.integers(-2**63, 2**63 - 1)), dtype="int64"),
        "float": lambda: pd.Series(column(_FLOATS), dtype="float64"),
        "nullable_int": lambda: pd.Series(column(st.none() | st.integers(-10**6, 10**6)),
                                          dtype="Int64"),
        "bool": lambda: pd.Series(column(st.booleans()), dtype=bool),
        "text": lambda: pd.Series(column(st.none() | _TEXT), dtype=object),
        "str": lambda: pd.Series(column(st.none() | _TEXT), dtype="str"),
        "date": lambda: pd.Series(column(st.none() | day), dtype=object),
        "datetime": lambda: pd.to_datetime(pd.Series(column(st.none() | day), dtype=object)),
        "mixed": lambda: pd.Series(column(st.none() | _FLOATS | _TEXT | st.integers()),
                                   dtype=object),
        "same": lambda: pd.Series([draw(st.integers() | _TEXT | _FLOATS)] * rows),
    }
    names = draw(st.lists(st.sampled_from(sorted(kinds)), min_size=1, max_size=5))
    return pd.DataFrame({f"{name}_{i}": kinds[name]() for i, name in enumerate(names)},
                        index=range(rows))


@settings(max_examples=400, deadline=None)
@given(_tables())
def test_csv_text_is_what_pandas_writes(table):
    expected = table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    assert to_csv(table) == expected
