"""The rows the API serves and ``insiders export`` writes: one place, so they never differ.

Every table carries its run ids and as-of dates, numbers stay numbers (integers as integers,
missing as null), dates are ISO and headers are snake_case. Reads go through ``dashboard.data``
(cached per succeeded run); callers pass only ids of succeeded runs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from dashboard import cache, data
from dashboard.api.contacts import with_contacts
from dashboard.api.forecasts import FORECAST_FIELDS, with_forecasts

INSIDER_COLUMNS = [
    "run_id", "as_of", "customer_id", "cluster", "cluster_name", "gross_revenue",
    "recency_days", "invoice_quantity", "items_quantity", "products_quantity", "avg_ticket",
    *FORECAST_FIELDS,
]
_MOVE_FEATURES = ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")
CHANGE_COLUMNS = [
    "from_run_id", "to_run_id", "from_as_of", "to_as_of", "customer_id", "kind", "cause",
    "reason", "cluster_before", "cluster_after",
    *[f"{side}_{name}" for side in ("before", "after", "change") for name in _MOVE_FEATURES],
]
DATE_COLUMNS = {"as_of", "from_as_of", "to_as_of", "at_risk_on"}
INTEGER_COLUMNS = {
    "run_id", "from_run_id", "to_run_id", "customer_id", "cluster", "cluster_before",
    "cluster_after", "recency_days", "invoice_quantity", "items_quantity", "products_quantity",
    *[f"{side}_{name}" for side in ("before", "after", "change")
      for name in ("invoice_quantity", "recency_days")],
}


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.reindex(columns=columns)
    for column in columns:
        if column in INTEGER_COLUMNS:
            frame[column] = pd.to_numeric(frame[column]).round().astype("Int64")
        elif column.startswith("change_"):  # a difference of two prices: no float dust
            frame[column] = frame[column].round(6)
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Prepared:
    """A run's table typed and sorted by customer id, kept whole in the per-run cache (a
    dataclass, so the cache hands it out as is instead of copying the frame): read only."""

    frame: pd.DataFrame

    def __len__(self) -> int:  # the cache keeps no empty answer
        return len(self.frame)


INSIDERS, CHANGES = "api_insiders", "api_changes"  # their names in the per-run cache
# the API filters by the stored cause; its rows show the cause as words (dashboard.history)
CAUSE_WORDS = {"feature": ("purchase activity", "inactivity"),
               "model_update": ("model update",), "new_customer": ("new customer",)}


def prepared(name: str, key: tuple, build: Callable[[], pd.DataFrame],
             engine: Engine) -> pd.DataFrame:
    """The whole table ``build()`` makes, kept once per (database, name, key): read only."""
    return cache.remember(name, key, lambda: Prepared(build()), engine).frame


def kept(name: str, key: tuple, engine: Engine) -> pd.DataFrame | None:
    """The whole table if it is kept already, else None (never builds it)."""
    found = cache.kept(name, key, engine)
    return found.frame if found is not None else None


def insiders_key(run: dict) -> tuple:
    return (run["id"], run["as_of"])


def typed_insiders(frame: pd.DataFrame, run: dict, engine: Engine) -> pd.DataFrame:
    """Rows of ``data.insiders_list`` as the API shows them, by customer id, with the run's
    forecasts (chance of being active, expected purchases and spend, at-risk date and why)."""
    names = {c["cluster"]: c["name"] for c in data.clusters(run["id"], engine=engine)}
    frame = frame.assign(cluster_name=frame["cluster"].map(names), run_id=run["id"],
                         as_of=run["as_of"])
    return _typed(with_forecasts(frame, run["id"], engine), INSIDER_COLUMNS)


def insiders_table(run: dict, engine: Engine, *, contacts: bool = True) -> pd.DataFrame:
    """The Insiders of the succeeded ``run``, by customer id, with their contact details
    (``contacts=False``: without, and the cached frame itself, not to be changed)."""
    frame = prepared(INSIDERS, insiders_key(run), lambda: typed_insiders(
        data.insiders_list(run["id"], engine=engine), run, engine), engine)
    return with_contacts(frame, engine) if contacts else frame


def changes_key(older: dict, newer: dict, kind: str | None, cause: str | None) -> tuple:
    return (older["id"], older["as_of"], newer["id"], newer["as_of"], kind, cause)


def typed_changes(frame: pd.DataFrame, older: dict, newer: dict) -> pd.DataFrame:
    """Rows of ``data.changes`` as the API shows them, by customer id."""
    frame = frame.assign(from_run_id=older["id"], to_run_id=newer["id"],
                         from_as_of=older["as_of"], to_as_of=newer["as_of"])
    return _typed(frame, CHANGE_COLUMNS)


def _changes(older: dict, newer: dict, engine: Engine, kind: str | None,
             cause: str | None) -> pd.DataFrame:
    frame = data.changes(older["id"], newer["id"], engine=engine)
    if kind:
        frame = frame[frame["kind"] == kind]
    if cause:
        frame = frame[frame["cause"].isin(CAUSE_WORDS[cause])]
    return typed_changes(frame, older, newer)


def changes_table(older: dict, newer: dict, engine: Engine, kind: str | None = None,
                  cause: str | None = None, *, contacts: bool = True) -> pd.DataFrame:
    """Who entered and who left Insiders from ``older`` to ``newer`` (succeeded runs), with
    the kind, cause, reason and contact details; optionally only one kind or cause
    (``contacts=False``: without contacts, and the cached frame itself, not to be changed)."""
    frame = prepared(CHANGES, changes_key(older, newer, kind, cause),
                     lambda: _changes(older, newer, engine, kind, cause), engine)
    return with_contacts(frame, engine) if contacts else frame


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values: NaN and <NA> become None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows ready for JSON, as the response schemas describe them (plain Python numbers, None
    for missing, ISO dates), built column by column: a page needs no schema dump."""
    columns = {}
    for name in frame.columns:
        values = frame[name].to_numpy(dtype=object, na_value=None)
        if name in DATE_COLUMNS:
            values = [value.isoformat() if isinstance(value, date) else value
                      for value in values]
        columns[name] = values
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


FIRST = -(2**63)  # "after" for the first page: below every customer id


def slice_after(frame: pd.DataFrame, after: int, rows: int) -> pd.DataFrame:
    """Up to ``rows`` rows of ``frame`` (sorted by customer id, each customer once) with a
    customer id above ``after``: the same slice for everyone while a client pages."""
    start = int(frame["customer_id"].searchsorted(after, side="right"))
    return frame.iloc[start:start + rows]


class CursorError(ValueError):
    """A cursor this API did not give out."""


def encode_cursor(customer_id: int) -> str:
    return f"c{customer_id}"


def decode_cursor(cursor: str) -> int:
    digits = cursor[1:]
    if not cursor.startswith("c") or not digits.isdigit() or len(digits) > 19:
        raise CursorError("the cursor is not one this API gave out")
    return int(digits)


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, date_format="%Y-%m-%d")


def to_json(frame: pd.DataFrame) -> str:
    return json.dumps(records(frame), default=_iso, indent=1) + "\n"


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
