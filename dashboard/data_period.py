"""Reads of the changes page by period: every entry and exit between two dates.

Part of the data layer (``dashboard/data.py`` is at its size limit): the Changes page and its
CSV read through here. Between two consecutive runs the rows are ``data.changes``'s; across
several runs each entry and exit of every run in between is one row, with its run and as-of
date, its cause and reason, and the key figures before (the run it was measured against) and
after (its own run), so a customer who entered and left again shows both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from sqlalchemy import Engine, func, select

from dashboard import data, data_index
from dashboard.cache import per_run
from dashboard.config import app_engine
from dashboard.history import currency, plain_reasons, stored_details
from pipeline.exports import changes_filename, changes_table, to_csv
from store import bulk, run_changes
from store.schema import MembershipEvent

KEY_FEATURES = run_changes.KEY_FEATURES


CSV_PART_ROWS = 10_000
"""Rows of the changes CSV formatted and sent at a time."""

runs_after = data.runs_between  # the succeeded runs after one run up to another


@per_run(app_engine)
def event_counts(run_from: int, run_to: int, engine: Engine | None = None) -> list[dict]:
    """Per run after ``run_from`` up to ``run_to`` (oldest first): its id, as-of date and
    how many customers entered and exited there (counted in SQL, no rows read)."""
    between = runs_after(run_from, run_to, engine)
    ev = MembershipEvent
    query = (select(ev.run_id, ev.kind, func.count().label("n"))
             .where(ev.run_id.in_([r["id"] for r in between])).group_by(ev.run_id, ev.kind))
    with app_engine(engine).connect() as conn:
        counted = {(row.run_id, row.kind): row.n for row in conn.execute(query)}
    return [{**r, "entered": counted.get((r["id"], "entered"), 0),
             "exited": counted.get((r["id"], "exited"), 0)} for r in between]


def _events(run_ids: list[int], engine: Engine | None) -> pd.DataFrame:
    """Every event of ``run_ids`` with the customer's figures in its run and in the run it was
    measured against (stored with each run, or read by primary-key probes into the labels),
    the reasons in words (without the details they were worded from)."""
    engine = app_engine(engine)
    stored = data_index.stored_events(run_ids, currency(), engine)
    if stored is not None:
        events, worded = stored
        return events if worded else plain_reasons(events).drop(columns="details")
    frame = bulk.read_frame(engine, run_changes.events_query(run_ids), probe=True)
    frame["details"] = stored_details(frame["details"].tolist())
    return plain_reasons(frame).drop(columns="details")  # worded: no reader needs them


@per_run(app_engine)
def period_changes(run_from: int, run_to: int, latest: int | None = None,
                   engine: Engine | None = None) -> pd.DataFrame:
    """Who entered and who left Insiders from ``run_from`` to ``run_to``: one row per entry
    or exit, with ``event_run`` and ``event_as_of`` (the run it happened in), ``cause``,
    ``reason``, ``cause_help`` and ``before_``/``after_``/``change_`` of the key figures;
    sorted by date, kind and customer. ``run_from`` must be the earlier run. ``latest``:
    only the events of that many latest runs of the period (a page shows a few thousand
    rows; ``event_counts`` counts them all)."""
    engine = app_engine(engine)
    between = runs_after(run_from, run_to, engine)
    consecutive = len(between) == 1
    if latest is not None and not consecutive:
        between = between[-max(latest, 1):]
    if not between:
        return pd.DataFrame(columns=["customer_id", "kind", "event_run", "event_as_of", "cause",
                                     "reason", "cause_help"])
    as_of = {r["id"]: r["as_of"] for r in between}
    if consecutive:  # consecutive runs: the moves themselves (and any without an event)
        moves = data.changes(run_from, run_to, engine)
        moves["event_run"] = run_to
        return _typed(moves, as_of)
    events = _with_changes(_events(list(as_of), engine))
    order = {run_id: i for i, run_id in enumerate(as_of)}
    events["_order"] = events["event_run"].map(order)
    events = events.sort_values(["_order", "kind", "customer_id"], kind="stable")
    return _typed(events.drop(columns="_order").reset_index(drop=True), as_of)


def _with_changes(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with ``change_`` of each key figure (after less before)."""
    for feature in KEY_FEATURES:
        events[f"change_{feature}"] = events[f"after_{feature}"] - events[f"before_{feature}"]
    return events


def _typed(moves: pd.DataFrame, as_of: dict) -> pd.DataFrame:
    moves = moves.copy()
    if "event_run" not in moves:
        moves["event_run"] = pd.Series(dtype="int64")
    moves["event_run"] = moves["event_run"].astype("int64")
    moves["event_as_of"] = [as_of.get(int(r)) for r in moves["event_run"]]
    return moves


def period_csv(run_from: int, run_to: int, engine: Engine | None = None) -> tuple[str, str]:
    """(file name, CSV text) of ``period_changes`` for other tools: :func:`period_csv_parts`
    joined."""
    name, parts = period_csv_parts(run_from, run_to, engine)
    return name, "".join(parts)


def period_csv_parts(run_from: int, run_to: int,
                     engine: Engine | None = None) -> tuple[str, Iterator[str]]:
    """(file name, CSV text in parts) of ``period_changes``: both runs and their as-of dates
    in the name and in columns, each row's own run and as-of date (``event_run_id``,
    ``event_as_of``), numbers as numbers; sorted by date, run, change and customer. Across
    several runs, each run's rows are read when its first part is asked for (a year of daily
    runs at a million customers is half a million rows, 120 MB of text)."""
    engine = app_engine(engine)
    older, newer = data.get_run(run_from, engine), data.get_run(run_to, engine)
    between = runs_after(run_from, run_to, engine)
    name = changes_filename(older, newer)
    if len(between) <= 1:
        moves = period_changes(run_from, run_to, engine=engine)
        return name, _csv_parts(moves, older, newer, header=True)
    ordered = sorted(between, key=lambda run: (str(run["as_of"])[:10], run["id"]))

    def parts() -> Iterator[str]:
        for i, run in enumerate(ordered):
            events = _with_changes(_events([run["id"]], engine))
            moves = _typed(events, {run["id"]: run["as_of"]})
            yield from _csv_parts(moves, older, newer, header=i == 0)

    return name, parts()


def _csv_parts(moves: pd.DataFrame, older: dict, newer: dict, *,
               header: bool) -> Iterator[str]:
    """The CSV rows of ``moves``, :data:`CSV_PART_ROWS` at a time (the first part with the
    header row when ``header``)."""
    table = changes_table(moves, older, newer)
    at = table.columns.get_loc("customer_id")
    runs = moves.drop_duplicates("event_run")  # one date per run
    days = {run: str(day)[:10] for run, day in zip(runs["event_run"], runs["event_as_of"],
                                                   strict=True)}
    table.insert(at, "event_as_of", moves["event_run"].map(days).loc[table.index].to_numpy())
    table.insert(at, "event_run_id", moves["event_run"].loc[table.index].to_numpy())
    table = table.sort_values(["event_as_of", "event_run_id", "change", "customer_id"],
                              kind="stable")
    for start in range(0, max(len(table), 1), CSV_PART_ROWS):
        text = to_csv(table.iloc[start:start + CSV_PART_ROWS])
        yield text if header and not start else text.split("\n", 1)[1]
