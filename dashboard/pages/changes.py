"""Changes: who entered and who left Insiders between two dates, why, and cluster moves.

Dates snap to the runs on them (the latest run as of that date or before it), so the default
view compares the two latest dates, never a rerun with the run it repeated.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboard import charts, data, data_period, downloads, history, ids, widgets
from dashboard.cache import remember
from dashboard.config import app_engine
from store.schema import EVENT_KINDS

dash.register_page(__name__, path="/changes", name="Changes", order=1,
                   title="Insiders · Changes")

FEATURE_CHANGES = [("gross_revenue", "Spend", ",.0f"), ("invoice_quantity", "Invoices", ",.0f"),
                   ("recency_days", "Recency (days)", ",.0f"),
                   ("avg_ticket", "Mean ticket", ",.2f")]


def _option(run: dict) -> dict:
    ran = f" · ran {run['finished_at']:%d %b %Y %H:%M}" if run.get("finished_at") else ""
    return {"label": f"{run['as_of']:%d %b %Y}{ran} (run #{run['id']})", "value": run["id"]}


def layout(**kwargs) -> html.Div:
    runs = history.dated(data.succeeded_runs())
    if len(runs) < 2:
        return html.Div([html.H2("Changes"), widgets.empty_state(
            "Changes appear after the second run",
            "Entries and exits are measured between the runs of two dates. "
            + ("There is one so far." if runs else "There are none yet.")
            + " A backfill (insiders backfill) creates a history at once.",
        )])
    to_run = _pick(kwargs.get("to"), runs, runs[-1]["id"])
    from_run = _pick(kwargs.get("from"), runs, runs[-2]["id"])
    options = [_option(r) for r in reversed(runs)]
    return html.Div([
        html.H2("Changes"),
        dbc.Row([
            dbc.Col([dbc.Label("From date (data as of)"),
                     dcc.Dropdown(id=ids.CH_FROM, options=options, value=from_run,
                                  clearable=False)], md=5),
            dbc.Col([dbc.Label("To date (data as of)"),
                     dcc.Dropdown(id=ids.CH_TO, options=options, value=to_run,
                                  clearable=False)], md=5),
        ], className="mb-3"),
        dbc.Row([
            dbc.Col(_count_card("Entered", ids.CH_ENTERED, "joined Insiders", "success"), md=3),
            dbc.Col(_count_card("Exited", ids.CH_EXITED, "left Insiders", "danger"), md=3),
            dbc.Col(html.Div(id=ids.CH_COUNTS, className="text-muted small"), md=6,
                    className="align-self-end"),
        ], className="g-2"),
        dbc.Row([
            dbc.Col(dbc.RadioItems(id=ids.CH_KIND, inline=True, value="all", options=[
                {"label": "All", "value": "all"}, {"label": "Entered", "value": "entered"},
                {"label": "Exited", "value": "exited"}]), md=8),
            dbc.Col(dbc.Button("Export CSV", id=ids.CH_EXPORT, size="sm", color="secondary",
                               outline=True, external_link=True,
                               href=downloads.changes_href(from_run, to_run)),
                    md=4, className="text-end"),
        ], className="mt-3 mb-2"),
        charts.grid(ids.CH_GRID, [], _columns(), filename="insiders-changes.csv"),
        dcc.Loading(dcc.Graph(id=ids.CH_SANKEY, responsive=True, style={"height": "420px"},
                              config={"displaylogo": False})),
    ])


def _count_card(title: str, value_id: str, note: str, color: str) -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.Div(title, className="text-muted small text-uppercase"),
        html.Div("…", id=value_id, className=f"fs-3 fw-bold text-{color}"),
        html.Div(note, className="text-muted small"),
    ]), className="shadow-sm h-100")


def _pick(value, runs: list[dict], default: int) -> int:
    """A run id from the URL: a run id of ``runs``, or a date (YYYY-MM-DD) snapped to its run."""
    try:
        return history.run_on(date.fromisoformat(str(value)), runs)["id"]
    except ValueError:
        pass
    try:
        return int(value) if int(value) in {r["id"] for r in runs} else default
    except (TypeError, ValueError):
        return default


def _columns() -> list[dict]:
    columns = [
        {"field": "customer_id", "headerName": "Customer", "filter": "agNumberColumnFilter",
         "cellRenderer": "CustomerLink", "minWidth": 100, "maxWidth": 110, "pinned": "left"},
        {"field": "reason", "headerName": "Reason", "minWidth": 250, "flex": 3,
         "wrapText": True, "autoHeight": True,
         "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}},
        {"field": "kind", "headerName": "Change", "maxWidth": 120},
        {"field": "as_of", "headerName": "As of", "minWidth": 110, "maxWidth": 130},
        {"field": "cause", "headerName": "Cause", "minWidth": 130, "maxWidth": 170,
         "tooltipField": "cause_help", "wrapText": True, "autoHeight": True,
         "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}},
    ]
    for field, label, fmt in FEATURE_CHANGES:
        columns.append(charts.number_column(f"change_{field}", f"Δ {label}", f"+{fmt}"))
    return columns


def grid_rows(moves: pd.DataFrame, run_to: int | None = None) -> list[dict]:
    """Rows for the grid: one per entry or exit (``data_period.period_changes``), with its
    as-of date and the key feature changes; a reason from a run before ``run_to`` starts
    with its date (seen on a phone, where the date column is off-screen).

    Plain values only (NaN is sent as null): a response without components is encoded by
    orjson in one pass, which matters with thousands of rows.
    """
    keep = ["customer_id", "kind", "cause", "cause_help", "reason",
            *[f"change_{f}" for f, _, _ in FEATURE_CHANGES]]
    columns = [moves[name].tolist() for name in keep]
    rows = [dict(zip(keep, values, strict=True)) for values in zip(*columns, strict=True)]
    events = moves["event_run"].tolist()
    days = dict(zip(events, moves["event_as_of"].tolist(), strict=True))  # a date per run
    shown = {run: day.isoformat() if day else None for run, day in days.items()}
    for row, event in zip(rows, events, strict=True):
        row["as_of"] = shown[event]
    for i in [i for i, event in enumerate(events) if event != run_to and days[event]]:
        rows[i]["reason"] = f"As of {days[events[i]]:%d %b %Y}: {rows[i]['reason']}"
    return rows


# the grid shows the entries and exits of the latest dates up to about this many rows (the
# oldest of them whole, or its customers who spent the most when it alone has more); the counts
# and the CSV export cover every date of the period
MAX_GRID_ROWS = 5_000


def _latest_dates(counts: list[dict]) -> int | None:
    """How many of the period's latest run dates the grid shows (None: every one)."""
    total = 0
    for dates, run in enumerate(reversed(counts)):
        total += run["entered"] + run["exited"]
        if total > MAX_GRID_ROWS and dates:
            return dates
    return None


def _most_valuable(moves: pd.DataFrame) -> pd.DataFrame:
    """At most MAX_GRID_ROWS of ``moves``, those who spent the most (in the run they entered,
    or before they left), in their order."""
    if len(moves) <= MAX_GRID_ROWS:
        return moves
    entered = moves["kind"].to_numpy() == "entered"
    spent = np.where(entered, moves["after_gross_revenue"].to_numpy(dtype="float64"),
                     moves["before_gross_revenue"].to_numpy(dtype="float64"))
    top = np.lexsort((moves["customer_id"].to_numpy(), -np.nan_to_num(spent, nan=-np.inf)))
    return moves.iloc[np.sort(top[:MAX_GRID_ROWS])]


def _read(run_from: int, run_to: int) -> tuple[pd.DataFrame, list[dict], pd.DataFrame]:
    """The entries and exits the grid shows, every date's counts and the cluster moves."""
    engine = app_engine()  # resolved here: the pool's threads have no app context

    def moves() -> tuple[pd.DataFrame, list[dict]]:
        counts = data_period.event_counts(run_from, run_to, engine)
        latest = _latest_dates(counts) if len(counts) > 1 else None
        return data_period.period_changes(run_from, run_to, latest, engine), counts

    with ThreadPoolExecutor(2) as pool:
        read = pool.submit(moves)
        transitions = pool.submit(data.transitions, run_from, run_to, engine)
        (rows, counts), moved = read.result(), transitions.result()
    return rows, counts, moved


def _summary(older: dict, newer: dict, counts: list[dict], rows: list[dict],
             listed: int) -> str:
    """What the grid shows of the ``listed`` entries and exits read for it."""
    span = (f"From {older['as_of']:%d %b %Y} (run #{older['id']}) to "
            f"{newer['as_of']:%d %b %Y} (run #{newer['id']})")
    cut = len(rows) < listed
    if len(counts) <= 1:
        return span + (f". The list shows the {len(rows):,} of {listed:,} customers who spent "
                       "the most; Export CSV has them all." if cut else ".")
    text = (f"{span}: every entry and exit on the {len(counts)} run dates in between; "
            f"Insiders went from {older.get('n_insiders') or 0:,} to "
            f"{newer.get('n_insiders') or 0:,}.")
    total = sum(run["entered"] + run["exited"] for run in counts)
    if listed < total:
        shown = len({row["as_of"] for row in rows})
        text += (f" The list shows the latest {shown} dates ({listed:,} of {total:,}"
                 + (f", of them the {len(rows):,} customers who spent the most" if cut else "")
                 + "); Export CSV has them all.")
    return text


@callback(
    Output(ids.CH_ENTERED, "children"), Output(ids.CH_EXITED, "children"),
    Output(ids.CH_COUNTS, "children"), Output(ids.CH_GRID, "rowData"),
    Output(ids.CH_SANKEY, "figure"),
    Input(ids.CH_FROM, "value"), Input(ids.CH_TO, "value"), Input(ids.CH_KIND, "value"),
)
def compare(run_from, run_to, kind: str):
    run_from, run_to = data.succeeded_id(run_from), data.succeeded_id(run_to)
    if run_from is None or run_to is None:
        return "–", "–", widgets.NO_SUCH_RUN, [], charts.empty_figure("Pick two runs")
    if run_from == run_to:
        return "–", "–", "Pick two different runs.", [], charts.empty_figure("Pick two runs")
    older, newer = data.get_run(run_from), data.get_run(run_to)
    note = ""
    if (older["as_of"], older["id"]) > (newer["as_of"], newer["id"]):
        run_from, run_to, older, newer = run_to, run_from, newer, older
        note = "The dates were picked the other way round: shown from the earlier to the later. "
    moves, counts, moved = _read(run_from, run_to)
    rows = remember("period_rows", (run_from, run_to),
                    lambda: grid_rows(_most_valuable(moves), run_to), app_engine())
    if len(counts) > 1:
        entered = sum(run["entered"] for run in counts)
        exited = sum(run["exited"] for run in counts)
    else:  # the moves themselves, with any that has no recorded event
        entered = int((moves["kind"] == "entered").sum())
        exited = len(moves) - entered
    note += _summary(older, newer, counts, rows, len(moves))
    shown = [row for row in rows if row["kind"] == kind] if kind in EVENT_KINDS else rows
    figure = charts.sankey_figure(moved, data.clusters(run_from), data.clusters(run_to))
    return f"{entered:,}", f"{exited:,}", note, shown, figure


@callback(Output(ids.CH_EXPORT, "href"), Input(ids.CH_FROM, "value"),
          Input(ids.CH_TO, "value"))
def export_link(run_from, run_to) -> str:
    """The address of the CSV of every entry and exit between the two runs, downloaded from
    there in parts (``dashboard.downloads``)."""
    return downloads.changes_href(run_from, run_to)
