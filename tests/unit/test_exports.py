"""Files for other tools: header row of snake_case names, numbers as numbers, ISO dates."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd

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
