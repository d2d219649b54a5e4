"""Report: the seven business answers of the current run, downloadable as Markdown and CSV."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from dashboard import charts, data, data_forecasts, ids, widgets
from dashboard.cache import remember
from dashboard.config import app_engine
from dashboard.report_charts import calibration_figure
from dashboard.report_text import answers, report_markdown
from pipeline.exports import insiders_filename

dash.register_page(__name__, path="/report", name="Report", order=3, title="Insiders · Report")

CALIBRATION_GRAPH = "re-calibration"


def layout(**_kwargs) -> html.Div:
    current = data.current_run()
    if current is None:
        return html.Div([html.H2("Report"),
                         widgets.no_runs_state(data.active_run(), data.latest_run())])
    report = data.run_report(current["id"])
    items = answers(report, _cluster_names(current["id"]))
    body = [_answer_card(i, item, report) for i, item in enumerate(items, start=1)]
    if not body:
        body = [widgets.empty_state("This run has no report", "The run succeeded but stored "
                                    "no answers; a newer run will have them.", color="secondary")]
    return html.Div([
        html.H2("Report: the seven answers"),
        widgets.run_caption(current),
        dbc.ButtonGroup([
            dbc.Button("Download Markdown", id=ids.RE_MARKDOWN_BUTTON, color="primary"),
            dbc.Button("Insiders list (CSV)", id=ids.RE_CSV_BUTTON, color="secondary"),
        ], className="mb-3"),
        dcc.Download(id=ids.RE_MARKDOWN), dcc.Download(id=ids.RE_CSV),
        dcc.Store(id=ids.RE_RUN, data=current["id"]),
        *body,
    ])


def _chart(key: str | None, report: dict):
    if key == "distinctive":
        figure = charts.distinctive_figure(report.get("distinctive") or [])
    elif key == "revenue":
        figure = charts.shares_figure(report.get("insiders_share") or 0.0,
                                      report.get("revenue_share") or 0.0)
    elif key == "evidence":
        figure = charts.evidence_figure(report.get("evidence") or {})
    else:
        return None
    return dcc.Graph(figure=figure, config={"displayModeBar": False})


def _answer_card(number: int, item: dict, report: dict) -> dbc.Card:
    chart = _chart(item.get("chart"), report)
    text = dcc.Markdown(item["answer"], className="mb-0", style={"overflowX": "auto"})
    if chart is not None and item.get("chart") == "evidence" and _calibration(report):
        chart = html.Div([chart, dcc.Graph(id=CALIBRATION_GRAPH,
                                           figure=calibration_figure(_calibration(report)),
                                           config={"displayModeBar": False})])
    content = dbc.Row([dbc.Col(text, lg=6), dbc.Col(chart, lg=6)]) if chart is not None else text
    return dbc.Card(dbc.CardBody([
        html.H5(f"{number}. {item['question']}", className="card-title"), content,
    ]), className="mb-3 shadow-sm report-answer")


def _calibration(report: dict) -> list[dict]:
    return ((report or {}).get("forecast") or {}).get("calibration") or []


def _cluster_names(run_id: int) -> dict[int, str]:
    return {c["cluster"]: c["name"] for c in data.clusters(run_id) if c.get("name")}


def _download(run_id, name: str, build, filename: str) -> dict:
    """``build(run_id)`` as a file, for a succeeded run only (kept per run once built)."""
    run_id = data.succeeded_id(run_id)
    if run_id is None:
        return {"content": widgets.NO_SUCH_RUN + "\n", "filename": "not-available.txt"}
    text = remember(name, (run_id,), lambda: build(run_id), app_engine())
    as_of = (data.get_run(run_id) or {}).get("as_of")
    return {"content": text, "filename": filename.format(run_id=run_id, as_of=as_of)}


@callback(Output(ids.RE_MARKDOWN, "data"), Input(ids.RE_MARKDOWN_BUTTON, "n_clicks"),
          State(ids.RE_RUN, "data"), prevent_initial_call=True)
def download_markdown(_clicks, run_id):
    return _download(run_id, "report_markdown",
                     lambda run: report_markdown(data.run_report(run),
                                                 _cluster_names(run)) or "",
                     "insiders-report-run-{run_id}-as-of-{as_of}.md")


@callback(Output(ids.RE_CSV, "data"), Input(ids.RE_CSV_BUTTON, "n_clicks"),
          State(ids.RE_RUN, "data"), prevent_initial_call=True)
def download_insiders(_clicks, run_id):
    return _download(run_id, "insiders_table_csv", data_forecasts.insiders_csv,
                     insiders_filename("{as_of}", "{run_id}"))
