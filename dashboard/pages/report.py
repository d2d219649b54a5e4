"""Report: the seven business answers of the current run, downloadable as Markdown and CSV."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from dashboard import charts, data, ids, widgets
from dashboard.report_text import answers, report_markdown

dash.register_page(__name__, path="/report", name="Report", order=3, title="Insiders · Report")


def layout(**_kwargs) -> html.Div:
    current = data.current_run()
    if current is None:
        return html.Div([html.H2("Report"),
                         widgets.no_runs_state(data.active_run(), data.latest_run())])
    report = data.run_report(current["id"])
    clusters = data.clusters(current["id"])
    items = answers(report)
    body = [_answer_card(i, item) for i, item in enumerate(items, start=1)] or [
        widgets.empty_state("This run has no report", "The run succeeded but stored no "
                            "answers; a newer run will have them.", color="secondary")]
    return html.Div([
        html.H2("Report"),
        widgets.run_caption(current),
        dbc.ButtonGroup([
            dbc.Button("Download Markdown", id=ids.RE_MARKDOWN_BUTTON, color="primary"),
            dbc.Button("Insiders list (CSV)", id=ids.RE_CSV_BUTTON, color="secondary"),
        ], className="mb-3"),
        dcc.Download(id=ids.RE_MARKDOWN), dcc.Download(id=ids.RE_CSV),
        dcc.Store(id=ids.RE_RUN, data=current["id"]),
        dbc.Row([dbc.Col(body, lg=7), dbc.Col(_charts(current, clusters), lg=5)]),
    ])


def _answer_card(number: int, item: dict) -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H5(f"{number}. {item['question']}", className="card-title"),
        dcc.Markdown(item["answer"], className="mb-0"),
    ]), className="mb-2 shadow-sm report-answer")


def _charts(run: dict, clusters: list[dict]) -> list:
    summary = data.insiders_summary(run["id"])
    compare = charts.bar_compare(
        "Mean gross revenue per customer", ["Insiders", "All customers"],
        [summary.get("mean_revenue") or 0, summary.get("mean_revenue_all") or 0],
        [charts.INSIDERS_GOLD, "#95a5a6"])
    return [dcc.Graph(figure=charts.revenue_share_figure(clusters),
                      config={"displayModeBar": False}),
            dcc.Graph(figure=compare, config={"displayModeBar": False})]


@callback(Output(ids.RE_MARKDOWN, "data"), Input(ids.RE_MARKDOWN_BUTTON, "n_clicks"),
          State(ids.RE_RUN, "data"), prevent_initial_call=True)
def download_markdown(_clicks, run_id: int):
    def build() -> str:
        return report_markdown(data.get_run(run_id), data.run_report(run_id),
                               data.clusters(run_id))

    text = data.remember("report_markdown", (run_id,), build)
    return {"content": text, "filename": f"insiders-report-run-{run_id}.md"}


@callback(Output(ids.RE_CSV, "data"), Input(ids.RE_CSV_BUTTON, "n_clicks"),
          State(ids.RE_RUN, "data"), prevent_initial_call=True)
def download_insiders(_clicks, run_id: int):
    def build() -> str:
        frame = data.insiders_list(run_id)
        names = {c["cluster"]: c["name"] for c in data.clusters(run_id)}
        frame.insert(2, "cluster_name", frame["cluster"].map(names))
        return frame.to_csv(index=False)

    text = data.remember("insiders_csv", (run_id,), build)
    return {"content": text, "filename": f"insiders-run-{run_id}.csv"}
