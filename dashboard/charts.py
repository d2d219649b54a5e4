"""Figures and tables the pages share: one colour per cluster name, the same on every page."""

from __future__ import annotations

import dash_ag_grid as dag
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.columns import FEATURE_COLUMNS

FALLBACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf")
INSIDERS_GOLD = "#d4a017"
FEATURE_LABELS = {
    "gross_revenue": "Gross revenue",
    "recency_days": "Recency (days)",
    "invoice_quantity": "Invoices",
    "items_quantity": "Items",
    "products_quantity": "Products",
    "avg_ticket": "Mean ticket",
}
LAYOUT = {"template": "plotly_white", "margin": {"l": 40, "r": 10, "t": 40, "b": 40},
          "font": {"family": "Lato, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}}


def color_of(cluster: dict) -> str:
    """The cluster's stored colour; a fallback keyed by its name keeps it stable otherwise."""
    color = cluster.get("color")
    if isinstance(color, str) and color.startswith("#"):
        return color
    name = str(cluster.get("name") or cluster.get("cluster"))
    return FALLBACK_COLORS[sum(map(ord, name)) % len(FALLBACK_COLORS)]


def cluster_lookup(clusters: list[dict]) -> dict[int, dict]:
    return {c["cluster"]: {**c, "color": color_of(c)} for c in clusters}


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#7b8a8b"})
    fig.update_layout(**LAYOUT, xaxis={"visible": False}, yaxis={"visible": False}, height=300)
    return fig


def embedding_figure(points: pd.DataFrame, clusters: list[dict], sampled: bool) -> go.Figure:
    """WebGL scatter of the embedding, coloured by cluster, Insiders outlined."""
    if points.empty:
        return empty_figure("No customers in this run")
    lookup = cluster_lookup(clusters)
    fig = go.Figure()
    hover = ("<b>Customer %{customdata[0]:.0f}</b><br>%{fullData.name}<br>"
             + "<br>".join(f"{FEATURE_LABELS[f]}: %{{customdata[{i + 1}]:,.2f}}"
                           for i, f in enumerate(FEATURE_COLUMNS))
             + "<extra></extra>")
    for cluster, group in points.groupby("cluster", sort=True):
        info = lookup.get(int(cluster), {"name": f"Cluster {cluster}", "cluster": cluster})
        custom = group[["customer_id", *FEATURE_COLUMNS]].to_numpy(dtype=float)
        fig.add_trace(go.Scattergl(
            x=group["embedding_x"].to_numpy(), y=group["embedding_y"].to_numpy(),
            mode="markers", name=info["name"], customdata=custom, hovertemplate=hover,
            marker={"color": color_of(info), "size": 5, "opacity": 0.75,
                    "line": {"width": np.where(group["is_insiders"].to_numpy(), 1.2, 0),
                             "color": "#222"}},
        ))
    title = "Customer map (Insiders outlined)" + (" · sampled" if sampled else "")
    fig.update_layout(**LAYOUT, title=title, height=460, legend={"itemsizing": "constant"},
                      xaxis={"showticklabels": False, "title": ""},
                      yaxis={"showticklabels": False, "title": ""})
    return fig


def revenue_share_figure(clusters: list[dict]) -> go.Figure:
    if not clusters:
        return empty_figure("No clusters")
    ordered = sorted(clusters, key=lambda c: c["revenue_share"], reverse=True)
    fig = go.Figure(go.Bar(
        x=[c["revenue_share"] for c in ordered], y=[c["name"] for c in ordered], orientation="h",
        marker_color=[color_of(c) for c in ordered],
        text=[f"{c['revenue_share']:.0%} of revenue · {c['share']:.0%} of customers"
              for c in ordered],
        textposition="auto", hovertemplate="%{y}: %{x:.1%} of revenue<extra></extra>",
    ))
    fig.update_layout(**LAYOUT, title="Revenue share by cluster", height=460,
                      xaxis={"tickformat": ".0%"}, yaxis={"autorange": "reversed"})
    return fig


def trend_figure(runs: list[dict]) -> go.Figure:
    """Insiders count (bars) and their revenue share (line) across succeeded runs."""
    if not runs:
        return empty_figure("No runs yet")
    x = [f"#{r['id']} · {r['as_of']}" for r in runs]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=[r["n_insiders"] for r in runs], name="Insiders",
                         marker_color=INSIDERS_GOLD), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=[r["revenue_share"] for r in runs], name="Revenue share",
                             mode="lines+markers", line={"color": "#2c3e50"}),
                  secondary_y=True)
    fig.update_layout(**LAYOUT, title="Insiders across runs", height=320,
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="customers", secondary_y=False)
    fig.update_yaxes(title_text="revenue share", tickformat=".0%", secondary_y=True,
                     rangemode="tozero")
    return fig


def sankey_figure(moves: pd.DataFrame, before: list[dict], after: list[dict]) -> go.Figure:
    """Cluster transitions between two runs; new customers come from a 'New' node."""
    if moves.empty:
        return empty_figure("No customers to compare")
    left, right = cluster_lookup(before), cluster_lookup(after)
    left_keys = sorted({k for k in moves["cluster_before"].dropna().astype(int)})
    has_new = moves["cluster_before"].isna().any()
    right_keys = sorted(moves["cluster_after"].astype(int).unique())
    labels = [left.get(k, {"name": f"Cluster {k}"})["name"] for k in left_keys]
    colors = [color_of(left.get(k, {"cluster": k})) for k in left_keys]
    if has_new:
        labels.append("New customers")
        colors.append("#bdc3c7")
    offset = len(labels)
    labels += [right.get(k, {"name": f"Cluster {k}"})["name"] for k in right_keys]
    colors += [color_of(right.get(k, {"cluster": k})) for k in right_keys]
    src_index = {k: i for i, k in enumerate(left_keys)}
    dst_index = {k: offset + i for i, k in enumerate(right_keys)}
    sources = [src_index[int(v)] if pd.notna(v) else offset - 1 for v in moves["cluster_before"]]
    fig = go.Figure(go.Sankey(
        node={"label": labels, "color": colors, "pad": 14, "thickness": 16},
        link={"source": sources, "target": [dst_index[int(v)] for v in moves["cluster_after"]],
              "value": moves["customers"].tolist(), "color": "rgba(44,62,80,0.18)"},
    ))
    fig.update_layout(**LAYOUT, title="Where customers moved between clusters", height=420)
    return fig


def timeline_figure(history: pd.DataFrame) -> go.Figure:
    """The customer's cluster in each run; a gold ring marks runs where they were an Insider."""
    if history.empty:
        return empty_figure("This customer appears in no run")
    names = history["cluster_name"].fillna(history["cluster"].astype(str))
    x = [f"#{r} · {d}" for r, d in zip(history["run_id"], history["as_of"], strict=True)]
    colors = [color_of({"color": c, "name": n}) for c, n in zip(history["color"], names,
                                                                strict=True)]
    insiders = history["is_insiders"].astype(bool).to_numpy()
    fig = go.Figure(go.Scatter(
        x=x, y=names, mode="markers+lines", line={"color": "#bdc3c7"},
        marker={"size": 16, "color": colors,
                "line": {"width": np.where(insiders, 4, 0), "color": INSIDERS_GOLD}},
        text=np.where(insiders, "Insider", "not an Insider"),
        hovertemplate="%{x}<br>%{y}<br>%{text}<extra></extra>",
    ))
    fig.update_layout(**LAYOUT, title="Cluster in each run (gold ring: Insider)", height=280)
    return fig


def features_figure(history: pd.DataFrame, thresholds: dict[int, dict]) -> go.Figure:
    """One panel per feature across runs, with the entry and exit thresholds of each run."""
    if history.empty:
        return empty_figure("No features to show")
    features = list(FEATURE_COLUMNS)
    fig = make_subplots(rows=2, cols=3, subplot_titles=[FEATURE_LABELS[f] for f in features],
                        horizontal_spacing=0.07, vertical_spacing=0.18)
    x = [f"#{r}" for r in history["run_id"]]
    for i, feature in enumerate(features):
        row, col = i // 3 + 1, i % 3 + 1
        fig.add_trace(go.Scatter(x=x, y=history[feature], mode="lines+markers", showlegend=False,
                                 line={"color": "#2c3e50"}, name=FEATURE_LABELS[feature]),
                      row=row, col=col)
        for side, color, dash in (("entry", "#18bc9c", "dash"), ("exit", "#e74c3c", "dot")):
            values = [thresholds.get(int(r), {}).get(feature, {}).get(side)
                      for r in history["run_id"]]
            if any(v is not None for v in values):
                fig.add_trace(go.Scatter(
                    x=x, y=values, mode="lines", line={"color": color, "dash": dash, "shape": "hv"},
                    name=f"{side} threshold", legendgroup=side, showlegend=i == 0,
                ), row=row, col=col)
    fig.update_layout(**{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 80}}, height=480,
                      title="Features across runs against the thresholds",
                      legend={"orientation": "h", "y": -0.12})
    return fig


def grid(grid_id: str, rows: list[dict], columns: list[dict],
         filename: str = "export.csv") -> dag.AgGrid:
    """A sortable, filterable grid with CSV export (trigger with ``exportDataAsCsv``)."""
    return dag.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=columns,
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "flex": 1,
                       "minWidth": 110, "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"pagination": True, "paginationPageSize": 20, "domLayout": "autoHeight",
                         "animateRows": False, "enableCellTextSelection": True,
                         "tooltipShowDelay": 300},
        csvExportParams={"fileName": filename},
        style={"width": "100%"},
    )


def number_column(field: str, header: str, fmt: str = ",.0f", **extra) -> dict:
    return {"field": field, "headerName": header, "filter": "agNumberColumnFilter",
            "type": "rightAligned",
            "valueFormatter": {"function": f"params.value == null ? '' : "
                                           f"d3.format('{fmt}')(params.value)"},
            **extra}
