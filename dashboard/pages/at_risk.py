"""At risk: the Insiders who leave soon unless they buy, and the customers about to qualify, from
the current run's forecasts; each list most valuable first, with the reason in words and a CSV."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from dashboard import charts, data, widgets
from dashboard import data_forecasts as ahead
from dashboard.cache import remember
from dashboard.config import app_engine

dash.register_page(__name__, path="/at-risk", name="At risk", order=1.5,
                   title="Insiders · At risk")

RUN = "ar-run"
RISK_GRID, RISK_EXPORT, RISK_DOWNLOAD = "ar-risk-grid", "ar-risk-export", "ar-risk-download"
QUALIFY_GRID, QUALIFY_EXPORT, QUALIFY_DOWNLOAD = ("ar-qualify-grid", "ar-qualify-export",
                                                  "ar-qualify-download")
WRAP = {"wrapText": True, "autoHeight": True,
        "cellStyle": {"lineHeight": "1.4", "paddingTop": "6px", "paddingBottom": "6px"}}


def layout(**_kwargs) -> html.Div:
    current = data.current_run()
    if current is None:
        return html.Div([html.H2("At risk"),
                         widgets.no_runs_state(data.active_run(), data.latest_run())])
    run_id = current["id"]
    head = [html.H2("At risk"), widgets.run_caption(current)]
    info = ahead.forecast_info(run_id)
    if not info or "error" in info:
        why = (f"The forecast could not be made: {info['error']}" if info.get("error")
               else "This run was made before forecasts were kept; the next run will have them.")
        return html.Div([*head, widgets.empty_state("No forecast for this run", why,
                                                    color="secondary")])
    days, horizon = info.get("at_risk_days", 30), info.get("horizon_days", 90)
    risky, coming = risk_rows(run_id), qualify_rows(run_id)
    return html.Div([
        *head,
        html.P(f"Insiders who leave within {days} days unless they buy again, or who are "
               "unlikely to still be active customers, and the customers expected to qualify "
               f"within {days} days. Each list starts with the customers expected to spend the "
               f"most in the next {horizon} days.", className="text-muted"),
        _section(f"Insiders at risk ({len(risky):,})", RISK_EXPORT, RISK_DOWNLOAD),
        _grid(RISK_GRID, risky, risk_columns(horizon), "No Insider is at risk in this run."),
        _section(f"About to qualify ({len(coming):,})", QUALIFY_EXPORT, QUALIFY_DOWNLOAD),
        _grid(QUALIFY_GRID, coming, qualify_columns(horizon),
              "No customer is expected to qualify soon."),
        dcc.Store(id=RUN, data=run_id),
    ])


def _section(title: str, button: str, download: str) -> html.Div:
    return html.Div([
        html.H4(title, className="mb-0"),
        html.Div([dbc.Button("Export CSV", id=button, size="sm", color="secondary",
                             outline=True), dcc.Download(id=download)]),
    ], className="d-flex justify-content-between align-items-end mt-4 mb-2")


def _grid(grid_id: str, rows: list[dict], columns: list[dict], empty: str):
    grid = charts.grid(grid_id, rows, columns, filename=f"{grid_id}.csv")
    if rows:
        return grid
    return html.Div([html.P(empty, className="text-muted"), html.Div(grid, hidden=True)])


def risk_columns(horizon: int) -> list[dict]:
    return [
        {"field": "customer_id", "headerName": "Customer", "cellRenderer": "CustomerLink",
         "filter": "agNumberColumnFilter", "minWidth": 100, "maxWidth": 110, "pinned": "left"},
        {"field": "reason", "headerName": "Why", "minWidth": 240, "flex": 3, **WRAP},
        {"field": "leaves_on", "headerName": "Leaves on", "minWidth": 115, "maxWidth": 130},
        charts.number_column("days_left", "Days left", ",.0f", maxWidth=110),
        charts.number_column("expected_spend", f"Expected spend, next {horizon} days", ",.0f"),
        charts.number_column("p_active", "Chance still active", ".0%", maxWidth=130),
    ]


def qualify_columns(horizon: int) -> list[dict]:
    return [
        {"field": "customer_id", "headerName": "Customer", "cellRenderer": "CustomerLink",
         "filter": "agNumberColumnFilter", "minWidth": 100, "maxWidth": 110, "pinned": "left"},
        {"field": "reason", "headerName": "Why", "minWidth": 240, "flex": 3, **WRAP},
        {"field": "qualifies_on", "headerName": "Could join by", "minWidth": 115,
         "maxWidth": 130},
        charts.number_column("expected_purchases", f"Expected purchases, next {horizon} days",
                             ",.1f"),
        charts.number_column("expected_spend", f"Expected spend, next {horizon} days", ",.0f"),
    ]


def risk_rows(run_id: int) -> list[dict]:
    """Grid rows of the at-risk list (plain values; dates as ISO text), kept per run."""
    return remember("at_risk_rows", (run_id,),
                    lambda: _records(ahead.at_risk_table(run_id)), app_engine())


def qualify_rows(run_id: int) -> list[dict]:
    return remember("about_to_qualify_rows", (run_id,),
                    lambda: _records(ahead.about_to_qualify_table(run_id)), app_engine())


def _records(table: pd.DataFrame) -> list[dict]:
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                row[key] = value.isoformat()
    return rows


def _download(run_id, kind: str) -> dict:
    run_id = data.succeeded_id(run_id)
    if run_id is None or not ahead.has_forecasts(run_id):
        return {"content": widgets.NO_SUCH_RUN + "\n", "filename": "not-available.txt"}
    filename, text = remember(f"{kind}_csv", (run_id,),
                              lambda: ahead.forecast_csv(run_id, kind), app_engine())
    return {"content": text, "filename": filename}


@callback(Output(RISK_DOWNLOAD, "data"), Input(RISK_EXPORT, "n_clicks"), State(RUN, "data"),
          prevent_initial_call=True)
def export_at_risk(_clicks, run_id) -> dict:
    """The Insiders at risk as CSV (data_forecasts.forecast_csv)."""
    return _download(run_id, "at-risk")


@callback(Output(QUALIFY_DOWNLOAD, "data"), Input(QUALIFY_EXPORT, "n_clicks"),
          State(RUN, "data"), prevent_initial_call=True)
def export_about_to_qualify(_clicks, run_id) -> dict:
    """The customers about to qualify as CSV."""
    return _download(run_id, "about-to-qualify")
