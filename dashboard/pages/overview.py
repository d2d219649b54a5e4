"""Overview: the current run at a glance, its clusters and the Insiders across runs."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from dashboard import charts, data, history, ids, warmup, widgets
from dashboard import data_forecasts as ahead
from dashboard.cache import remember
from dashboard.config import app_engine, warm_enabled
from pipeline.columns import FEATURE_COLUMNS

dash.register_page(__name__, path="/", name="Overview", order=0, title="Insiders · Overview")


def layout(**_kwargs) -> html.Div:
    current, active, latest = data.current_run(), data.active_run(), data.latest_run()
    if current is None:
        return html.Div([html.H2("Overview"), widgets.no_runs_state(active, latest)])
    if warm_enabled():
        warmup.warm_current()  # the scatter's points, read while this layout is sent
    clusters = data.clusters(current["id"])
    summary = data.insiders_summary(current["id"])
    dated = history.dated(data.succeeded_runs())
    return html.Div([
        html.H2("Overview"),
        widgets.run_caption(current),
        *widgets.status_alerts(current, active, latest),
        _cards(current, summary, dated),
        dcc.Graph(id=ids.OV_TREND, figure=charts.trend_figure(dated), responsive=True,
                  style={"height": "300px"}, config={"displayModeBar": False},
                  className="mt-2"),
        dbc.Row([
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.OV_SCATTER, responsive=True,
                                          style={"height": "460px"},
                                          config={"displaylogo": False})),
                    lg=8),
            dbc.Col(dcc.Graph(id="ov-revenue", figure=charts.revenue_share_figure(clusters),
                              responsive=True, style={"height": "460px"},
                              config={"displayModeBar": False}), lg=4),
        ], className="my-3"),
        html.Div([html.H4("Cluster profiles", className="mt-2 mb-0"),
                  dbc.Button("Export CSV", id=ids.OV_EXPORT, size="sm", color="secondary",
                             outline=True)],
                 className="d-flex justify-content-between align-items-end mb-2"),
        _profile_grid(clusters),
        dcc.Store(id=ids.OV_RUN, data=current["id"]),
    ])


def _cards(run: dict, summary: dict, dated: list[dict]) -> dbc.Row:
    here = next((i for i, r in enumerate(dated) if r["id"] == run["id"]), len(dated))
    earlier = dated[:here]
    previous = earlier[-1] if earlier else None
    month = history.month_before(run, earlier) if earlier else None
    month = None if month is previous else month
    cards = [
        ("Insiders", f"{int(summary.get('insiders') or 0):,}",
         [f"of {int(summary.get('customers') or 0):,} customers",
          *_changes(run, previous, month, "n_insiders")], "warning"),
        ("Share of customers", widgets.percent(summary.get("share")),
         ["are Insiders", *_changes(run, previous, month, "insiders_share")], "primary"),
        ("Revenue share", widgets.percent(summary.get("revenue_share")),
         ["of gross revenue comes from Insiders",
          *_changes(run, previous, month, "revenue_share")], "success"),
        ("Mean revenue", widgets.money(summary.get("mean_revenue")),
         f"per Insider · {widgets.money(summary.get('mean_revenue_all'))} overall", "primary"),
        ("Mean ticket", widgets.money(summary.get("mean_ticket")),
         f"per Insider · {widgets.money(summary.get('mean_ticket_all'))} overall", "primary"),
        _at_risk_card(run),
    ]
    return dbc.Row([dbc.Col(widgets.stat_card(*card), className="mb-2") for card in cards],
                   className="g-2 row-cols-1 row-cols-md-3 row-cols-xl-6")


def _at_risk_card(run: dict) -> tuple:
    """How many Insiders leave soon unless they buy (the At risk page lists them)."""
    summary = ahead.at_risk_summary(run["id"])
    if summary is None:
        return ("At risk", "–", "no forecast for this run", "secondary")
    count, days = summary
    return ("At risk", f"{count:,}",
            [f"Insiders may leave within {days} days · ",
             html.A("see who", href="/at-risk", id="ov-at-risk-link")], "danger")


def _changes(run: dict, previous: dict | None, month: dict | None, field: str) -> list:
    """Lines under a card: the change since the previous run and since a month before."""
    lines = []
    for label, other in (("previous run", previous), ("a month before", month)):
        if other is None or run.get(field) is None or other.get(field) is None:
            continue
        delta = run[field] - other[field]
        text = (f"{delta:+,}" if field == "n_insiders" else f"{delta * 100:+.1f} pts")
        color = "text-success" if delta > 0 else "text-danger" if delta < 0 else "text-muted"
        lines.append(html.Div([html.Span(text, className=f"fw-bold {color}"),
                               f" since {label} ({other['as_of']:%d %b %Y})"],
                              className="small"))
    return lines


def _profile_grid(clusters: list[dict]):
    rows = []
    for c in clusters:
        profile = {k: v for k, v in (c.get("profile") or {}).items() if k in FEATURE_COLUMNS}
        rows.append({"name": c["name"], "color": charts.color_of(c),
                     "insiders": c.get("insiders_members", 0), "size": c["size"],
                     "share": c["share"], "revenue_share": c["revenue_share"], **profile})
    columns = [
        {"field": "name", "headerName": "Cluster", "pinned": "left", "minWidth": 170,
         "cellStyle": {"function": "({borderLeft: '8px solid ' + params.data.color})"}},
        charts.number_column("size", "Customers"),
        charts.number_column("insiders", "of them Insiders", maxWidth=130),
        charts.number_column("share", "Share", ".1%"),
        charts.number_column("revenue_share", "Revenue share", ".1%"),
        *[charts.number_column(f, charts.FEATURE_LABELS[f], ",.0f" if f != "avg_ticket"
                               else ",.2f") for f in FEATURE_COLUMNS],
    ]
    return charts.grid(ids.OV_PROFILES, rows, columns, filename="clusters.csv")


@callback(Output(ids.OV_SCATTER, "figure"), Input(ids.OV_RUN, "data"))
def scatter(run_id):
    """The embedding, sampled above MAX_SCATTER_POINTS (built apart: the heaviest figure)."""
    run_id = data.succeeded_id(run_id)
    if run_id is None:
        return charts.empty_figure(widgets.NO_SUCH_RUN)
    n = data.get_run(run_id)["n_customers"]

    def build() -> dict:
        points = data.embedding_sample(run_id, n)
        sampled = bool(n) and n > data.MAX_SCATTER_POINTS
        return charts.embedding_figure(points, data.clusters(run_id), sampled)

    # the same run always gives the same figure: build it once per process
    return remember("embedding_figure", (run_id, n), build, app_engine())


@callback(Output(ids.OV_PROFILES, "exportDataAsCsv"), Input(ids.OV_EXPORT, "n_clicks"),
          prevent_initial_call=True)
def export_profiles(_clicks: int) -> bool:
    return True
