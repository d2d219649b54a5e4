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

INSIDER_COLUMNS = [
    "run_id", "as_of", "customer_id", "cluster", "cluster_name", "gross_revenue",
    "recency_days", "invoice_quantity", "items_quantity", "products_quantity", "avg_ticket",
]
_MOVE_FEATURES = ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")
CHANGE_COLUMNS = [
    "from_run_id", "to_run_id", "from_as_of", "to_as_of", "customer_id", "kind", "cause",
    "reason", "cluster_before", "cluster_after",
    *[f"{side}_{name}" for side in ("before", "after", "change") for name in _MOVE_FEATURES],
]
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


def _prepared(name: str, key: tuple, build: Callable[[], pd.DataFrame],
              engine: Engine) -> pd.DataFrame:
    return cache.remember(name, key, lambda: Prepared(build()), engine).frame


def _insiders(run: dict, engine: Engine) -> pd.DataFrame:
    frame = data.insiders_list(run["id"], engine=engine)
    names = {c["cluster"]: c["name"] for c in data.clusters(run["id"], engine=engine)}
    frame["cluster_name"] = frame["cluster"].map(names)
    frame["run_id"], frame["as_of"] = run["id"], run["as_of"]
    return _typed(frame, INSIDER_COLUMNS)


def insiders_table(run: dict, engine: Engine, *, contacts: bool = True) -> pd.DataFrame:
    """The Insiders of the succeeded ``run``, by customer id, with their contact details
    (``contacts=False``: without, and the cached frame itself, not to be changed)."""
    frame = _prepared("api_insiders", (run["id"], run["as_of"]),
                      lambda: _insiders(run, engine), engine)
    return with_contacts(frame, engine) if contacts else frame


def _changes(older: dict, newer: dict, engine: Engine, kind: str | None,
             cause: str | None) -> pd.DataFrame:
    frame = data.changes(older["id"], newer["id"], engine=engine)
    if kind:
        frame = frame[frame["kind"] == kind]
    if cause:
        frame = frame[frame["cause"] == cause]
    frame = frame.assign(from_run_id=older["id"], to_run_id=newer["id"],
                         from_as_of=older["as_of"], to_as_of=newer["as_of"])
    return _typed(frame, CHANGE_COLUMNS)


def changes_table(older: dict, newer: dict, engine: Engine, kind: str | None = None,
                  cause: str | None = None, *, contacts: bool = True) -> pd.DataFrame:
    """Who entered and who left Insiders from ``older`` to ``newer`` (succeeded runs), with
    the kind, cause, reason and contact details; optionally only one kind or cause
    (``contacts=False``: without contacts, and the cached frame itself, not to be changed)."""
    key = (older["id"], older["as_of"], newer["id"], newer["as_of"], kind, cause)
    frame = _prepared("api_changes", key,
                      lambda: _changes(older, newer, engine, kind, cause), engine)
    return with_contacts(frame, engine) if contacts else frame


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values: NaN and <NA> become None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def page(frame: pd.DataFrame, cursor: str | None, limit: int) -> tuple[pd.DataFrame, str | None]:
    """Up to ``limit`` rows after the customer id in ``cursor``, and the next cursor (or None).

    The frame is sorted by customer id (a customer appears once), so a cursor stays right
    while the client pages, and every page of a succeeded run is the same for everyone.
    """
    start = 0
    if cursor:
        after = decode_cursor(cursor)
        start = int(frame["customer_id"].searchsorted(after, side="right"))
    rows = frame.iloc[start:start + limit]
    more = start + limit < len(frame)
    return rows, (encode_cursor(int(rows["customer_id"].iloc[-1])) if more else None)


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
