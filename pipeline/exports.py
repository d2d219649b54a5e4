"""Tables made for other tools (spreadsheets, BI, scripts), the same from the dashboard and the CLI.

A CSV has a header row of ``snake_case`` names, numbers as numbers (dot decimal, no thousands
separators), dates in ISO 8601 and money rounded to 2 decimals; counts and days are integers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS, INTEGER_FEATURE_COLUMNS, MONEY_FEATURES

CHANGE_FEATURES: tuple[str, ...] = ("gross_revenue", "invoice_quantity", "recency_days",
                                    "avg_ticket")
MONEY_DECIMALS = 2
# the looking-ahead columns an Insiders table carries when the run has forecasts
FORECAST_COLUMNS: tuple[str, ...] = ("p_active", "expected_purchases", "expected_spend",
                                     "at_risk_on", "at_risk_reason")


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Money and other floats rounded; whole-number features as integers (nullable
    when a value is missing)."""
    frame = frame.copy()
    for column in frame.columns:
        feature = column.removeprefix("before_").removeprefix("after_").removeprefix("change_")
        if feature in INTEGER_FEATURE_COLUMNS:
            if frame[column].dtype.kind in "iu":  # integers already
                continue
            whole = pd.to_numeric(frame[column]).round()
            # plain integers unless a value is missing: the same text, written faster
            frame[column] = whole.astype("int64" if whole.notna().all() else "Int64")
        elif feature in MONEY_FEATURES or pd.api.types.is_float_dtype(frame[column]):
            frame[column] = pd.to_numeric(frame[column]).astype("float64").round(MONEY_DECIMALS)
    return frame


def insiders_table(labels: pd.DataFrame, *, as_of: date | str,
                   cluster_names: Mapping[int, str] | None = None,
                   run_id: int | None = None,
                   forecasts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per Insider, highest revenue first: run, as-of date, customer, cluster and
    features. ``labels`` has ``customer_id`` (column or index), ``cluster``, the features and
    optionally ``is_insiders`` (then only those rows are kept). With ``forecasts`` (customer_id
    as a column or the index; ``store.forecasts.read_forecasts``' columns) the table also has
    :data:`FORECAST_COLUMNS`, empty for a customer without a forecast."""
    frame = labels.reset_index() if "customer_id" not in labels.columns else labels
    if "is_insiders" in frame.columns:
        frame = frame.loc[frame["is_insiders"].astype(bool)]
    # highest revenue first, then by customer id (missing revenue last)
    order = np.lexsort((frame["customer_id"].to_numpy(),
                        -frame["gross_revenue"].to_numpy(dtype="float64")))
    clusters = frame["cluster"].astype("int64").to_numpy()[order]
    names = {c: (cluster_names or {}).get(c, f"Cluster {c}") for c in set(clusters.tolist())}
    table = pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64").to_numpy()[order],
        "cluster": clusters,
        "cluster_name": [names[c] for c in clusters.tolist()],
        **{f: frame[f].to_numpy()[order] for f in FEATURE_COLUMNS},
    })
    table["run_id"], table["as_of"] = run_id, str(as_of)[:10]
    if run_id is None:
        table = table.drop(columns="run_id")
    table = _numbers(table)
    if forecasts is not None:
        ahead = forecasts.set_index("customer_id") if "customer_id" in forecasts.columns \
            else forecasts
        ahead = ahead.reindex(pd.Index(table["customer_id"]))
        for name in FORECAST_COLUMNS:
            values = ahead[name] if name in ahead.columns else pd.Series(None, index=ahead.index)
            table[name] = values.to_numpy(dtype=object if name.startswith("at_risk") else float)
        table["p_active"] = table["p_active"].round(4)
        table["expected_purchases"] = table["expected_purchases"].round(4)
        table["expected_spend"] = table["expected_spend"].round(MONEY_DECIMALS)
    return table


def changes_table(moves: pd.DataFrame, run_from: Mapping, run_to: Mapping) -> pd.DataFrame:
    """Entries and exits between two runs with the runs compared and their as-of dates.

    ``moves`` has ``customer_id``, ``kind``, ``cause``, ``reason`` and ``before_``/``after_``/
    ``change_`` columns of the key features; ``run_from``/``run_to`` have ``id`` and ``as_of``.
    """
    table = pd.DataFrame({
        "run_from": int(run_from["id"]), "as_of_from": str(run_from["as_of"])[:10],
        "run_to": int(run_to["id"]), "as_of_to": str(run_to["as_of"])[:10],
        "customer_id": moves["customer_id"].astype("int64").to_numpy(),
        "change": moves["kind"].to_numpy(), "cause": moves["cause"].to_numpy(),
        "reason": moves["reason"].to_numpy(),
    }, index=range(len(moves)))
    for prefix in ("before", "after", "change"):
        for feature in CHANGE_FEATURES:
            table[f"{prefix}_{feature}"] = moves[f"{prefix}_{feature}"].to_numpy()
    return _numbers(table.sort_values(["change", "customer_id"], kind="stable"))


def changes_filename(run_from: Mapping, run_to: Mapping) -> str:
    return (f"insiders-changes-run-{run_from['id']}-{str(run_from['as_of'])[:10]}"
            f"-to-run-{run_to['id']}-{str(run_to['as_of'])[:10]}.csv")


def insiders_filename(as_of: date | str, run_id: int | None = None) -> str:
    run = f"-run-{run_id}" if run_id is not None else ""
    return f"insiders{run}-as-of-{str(as_of)[:10]}.csv"


def to_csv(table: pd.DataFrame) -> str:
    """The table as CSV text for other tools (header row, ISO dates, no index): the text
    pandas' ``to_csv`` writes, each column turned into text at once and the rows joined
    (several times faster for thousands of rows)."""
    if len(table.columns) < 2 or not all(_plain(dtype) for dtype in table.dtypes):
        return table.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    columns = [_texts(table.iloc[:, i]) for i in range(table.shape[1])]
    rows = map(",".join, zip(*columns, strict=True))
    header = ",".join(_field(str(name)) for name in table.columns)
    return "\n".join([header, *rows, ""])


def _plain(dtype) -> bool:
    """Whether ``_texts`` writes a column of ``dtype`` as pandas does."""
    return (isinstance(dtype, np.dtype) and dtype.kind in "biufOM") or isinstance(
        dtype, pd.Int64Dtype | pd.StringDtype)


def _texts(column: pd.Series) -> list[str]:
    """A column's values as pandas writes them: dates as ISO dates, missing values empty,
    numbers as their ``repr`` and text quoted where the csv module quotes it."""
    if column.dtype.kind == "M":
        return column.dt.strftime("%Y-%m-%d").fillna("").tolist()
    missing = column.isna().to_numpy()
    if missing.any():  # only the values present are written (a column may be mostly empty)
        texts = [""] * len(column)
        present = np.flatnonzero(~missing)
        for i, text in zip(present.tolist(), _texts(column.iloc[present]), strict=True):
            texts[i] = text
        return texts
    values = column.tolist()
    constant = len(values) > 1 and (column.dtype.kind in "iu" or isinstance(values[0], str))
    if constant and values.count(values[0]) == len(values):  # one value (a run id, a date)
        return _texts(column.iloc[:1]) * len(values)
    if column.dtype.kind in "biu" or isinstance(column.dtype, pd.Int64Dtype):
        return list(map(str, values))
    if column.dtype.kind == "f":
        return list(map(repr, values))
    return [_field(value if isinstance(value, str) else
                   repr(value) if isinstance(value, float) else str(value)) for value in values]


def _field(text: str) -> str:
    """``text`` as the csv module writes a field among others (pandas' quoting: minimal)."""
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    if "\r" in text:  # whether a lone carriage return is quoted is the csv module's to say
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([text, ""])
        return buffer.getvalue()[:-2]
    return text
