"""Figures and tables the pages share: one colour per cluster name, the same on every page.

Figures are plain plotly.js dicts rather than ``plotly.graph_objects``: the objects validate
every property in Python, which costs more than the database query behind most charts. Large
numeric arrays travel as typed arrays (base64), as plotly.py itself sends them.
"""

from __future__ import annotations

import base64

import dash_ag_grid as dag
import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS, FEATURE_LABELS
from pipeline.identity import INSIDERS_COLOR as INSIDERS_GOLD
from pipeline.plain import finite_or_none

FALLBACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf")
FONT = {"family": "Lato, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12,
        "color": "#2c3e50"}
GRID = "#ecf0f1"
# the zoom toolbar of a chart that has one stands along its right edge: across the top it
# covers the title on a phone-wide screen
SIDE_TOOLBAR = {"orientation": "v"}


def _layout(title: str, height: int, **extra) -> dict:
    return {"title": {"text": title, "x": 0.02, "font": {"size": 15}}, "height": height,
            "margin": {"l": 50, "r": 20, "t": 50, "b": 40}, "font": FONT,
            "paper_bgcolor": "white", "plot_bgcolor": "white", "hoverlabel": {"font": FONT},
            **extra}


def _axis(**extra) -> dict:
    return {"gridcolor": GRID, "zerolinecolor": GRID, "automargin": True, **extra}


def typed(values, dtype: str = "f4") -> dict:
    """A numeric array as plotly.js's typed-array spec (compact and fast to encode);
    float32 keeps 7 significant digits, plenty for a map and a hover label."""
    array = np.ascontiguousarray(values, dtype=np.dtype(dtype))
    spec = {"dtype": dtype, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    if array.ndim == 2:
        spec["shape"] = f"{array.shape[0]}, {array.shape[1]}"
    return spec


def color_of(cluster: dict) -> str:
    """The cluster's stored colour; a fallback keyed by its name keeps it stable otherwise."""
    color = cluster.get("color")
    if isinstance(color, str) and color.startswith("#"):
        return color
    name = str(cluster.get("name") or cluster.get("cluster"))
    return FALLBACK_COLORS[sum(map(ord, name)) % len(FALLBACK_COLORS)]


def cluster_lookup(clusters: list[dict]) -> dict[int, dict]:
    return {c["cluster"]: {**c, "color": color_of(c)} for c in clusters}


def empty_figure(message: str) -> dict:
    return {"data": [], "layout": _layout("", 300, xaxis={"visible": False},
                                          yaxis={"visible": False}, annotations=[{
        "text": message, "showarrow": False, "font": {"size": 14, "color": "#7b8a8b"},
        "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])}


def embedding_figure(points: pd.DataFrame, clusters: list[dict], sampled: bool) -> dict:
    """WebGL scatter of the embedding, coloured by cluster, Insiders outlined."""
    if points.empty:
        return empty_figure("No customers in this run")
    lookup = cluster_lookup(clusters)
    hover = ("<b>Customer %{customdata[0]:.0f}</b><br>%{fullData.name}<br>"
             + "<br>".join(f"{FEATURE_LABELS[f]}: %{{customdata[{i + 1}]:,.2f}}"
                           for i, f in enumerate(FEATURE_COLUMNS))
             + "<extra></extra>")
    # float32 halves the payload and is exact for ids below 2**24; larger ids need float64
    custom_dtype = "f4" if points["customer_id"].max() < 2**24 else "f8"
    traces = []
    for cluster, group in points.groupby("cluster", sort=True):
        info = lookup.get(int(cluster), {"name": f"Cluster {cluster}", "cluster": cluster})
        name = f"{info['name']} · {info.get('insiders_members', 0):,} Insiders"
        traces.append(_map_trace(group, name, hover, custom_dtype,
                                 {"color": color_of(info), "size": 5, "opacity": 0.75}))
    # membership is a layer of its own, a gold ring over the cluster colours, not a cluster
    members = points[points["is_insiders"].to_numpy(dtype=bool)]
    if len(members):
        traces.append(_map_trace(members, "Insiders (members)", hover, custom_dtype, {
            "color": INSIDERS_GOLD, "size": 9, "symbol": "circle-open",
            "line": {"width": 2, "color": INSIDERS_GOLD}}))
    title = "Customer map by cluster (gold rings: Insiders)" + (" · sampled" if sampled else "")
    return {"data": traces, "layout": _layout(
        title, 480, legend={"itemsizing": "constant", "orientation": "h", "y": -0.02,
                            "yanchor": "top"},
        xaxis=_axis(showticklabels=False), yaxis=_axis(showticklabels=False),
        modebar=SIDE_TOOLBAR)}


def _map_trace(group: pd.DataFrame, name: str, hover: str, custom_dtype: str,
               marker: dict) -> dict:
    return {"type": "scattergl", "mode": "markers", "name": name,
            "x": typed(group["embedding_x"]), "y": typed(group["embedding_y"]),
            "customdata": typed(group[["customer_id", *FEATURE_COLUMNS]].to_numpy(float),
                                custom_dtype),
            "hovertemplate": hover, "marker": marker}


def revenue_share_figure(clusters: list[dict]) -> dict:
    """Revenue share by cluster as bars; each bar's figures sit under its name on the axis,
    where they are never cut off (text beside a bar overflows a phone-wide chart)."""
    if not clusters:
        return empty_figure("No clusters")
    ordered = sorted(clusters, key=lambda c: c["revenue_share"], reverse=True)
    names = [c["name"] for c in ordered]
    labels = [f"<b>{c['name']}</b><br>{c['revenue_share']:.0%} of revenue<br>"
              f"{c.get('insiders_members', 0):,} Insiders" for c in ordered]
    trace = {
        "type": "bar", "orientation": "h",
        "x": [c["revenue_share"] for c in ordered], "y": names,
        "marker": {"color": [color_of(c) for c in ordered]},
        "customdata": [f"{c['share']:.1%} of customers, {c.get('insiders_members', 0):,} of "
                       "them Insiders" for c in ordered],
        "hovertemplate": "%{y}: %{x:.1%} of revenue<br>%{customdata}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(
        "Revenue share by cluster", 460, margin={"l": 10, "r": 20, "t": 50, "b": 40},
        xaxis=_axis(tickformat=".0%", rangemode="tozero"),
        yaxis=_axis(autorange="reversed", tickmode="array", tickvals=names, ticktext=labels),
        showlegend=False)}


def trend_figure(runs: list[dict]) -> dict:
    """Insiders count (bars) and their revenue share (line) by as-of date, one point per date
    (``runs`` from ``history.dated``); the hover says which run and when it ran."""
    if not runs:
        return empty_figure("No runs yet")
    x = [r["as_of"].isoformat() for r in runs]
    ran = [f"run #{r['id']}, ran {r['finished_at']:%d %b %Y %H:%M}" if r.get("finished_at")
           else f"run #{r['id']}" for r in runs]
    bars = {"type": "bar", "x": x, "y": [r["n_insiders"] for r in runs], "name": "Insiders",
            "marker": {"color": INSIDERS_GOLD}, "customdata": ran,
            "hovertemplate": "as of %{x|%d %b %Y}: %{y:,} Insiders<br>%{customdata}"
                             "<extra></extra>"}
    line = {"type": "scatter", "mode": "lines+markers", "x": x, "yaxis": "y2",
            "y": [r["revenue_share"] for r in runs], "name": "Their share of revenue",
            "line": {"color": "#2c3e50"},
            "hovertemplate": "as of %{x|%d %b %Y}: %{y:.1%} of revenue<extra></extra>"}
    return {"data": [bars, line], "layout": _layout(
        "Insiders by as-of date", 300, legend={"orientation": "h", "y": -0.25},
        xaxis=_axis(type="date", tickvals=x, ticktext=[f"{r['as_of']:%d %b %Y}" for r in runs]),
        yaxis=_axis(title={"text": "Insiders"}, rangemode="tozero"),
        yaxis2=_axis(title={"text": "share of revenue"}, tickformat=".0%", overlaying="y",
                     side="right", rangemode="tozero", showgrid=False))}


def sankey_figure(moves: pd.DataFrame, before: list[dict], after: list[dict]) -> dict:
    """Cluster transitions between two runs; new customers come from a 'New' node."""
    if moves.empty:
        return empty_figure("No customers to compare")
    left, right = cluster_lookup(before), cluster_lookup(after)
    left_keys = sorted({int(k) for k in moves["cluster_before"].dropna()})
    has_new = bool(moves["cluster_before"].isna().any())
    right_keys = sorted({int(k) for k in moves["cluster_after"]})
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
    trace = {
        "type": "sankey",
        "node": {"label": labels, "color": colors, "pad": 14, "thickness": 16},
        "link": {"source": sources, "target": [dst_index[int(v)] for v in moves["cluster_after"]],
                 "value": [int(v) for v in moves["customers"]],
                 "color": "rgba(44,62,80,0.18)"},
    }
    return {"data": [trace], "layout": _layout("Where customers moved between clusters", 420,
                                               modebar=SIDE_TOOLBAR)}


def timeline_figure(history: pd.DataFrame) -> dict:
    """The customer's cluster in each run by as-of date; a dark star marks runs where they
    were an Insider (a ring in the Insiders' gold would vanish on a gold cluster)."""
    if history.empty:
        return empty_figure("This customer appears in no run")
    names = [n if isinstance(n, str) else f"Cluster {c}"
             for n, c in zip(history["cluster_name"], history["cluster"], strict=True)]
    x = [str(d) for d in history["as_of"]]
    colors = [color_of({"color": c, "name": n}) for c, n in zip(history["color"], names,
                                                                strict=True)]
    insiders = history["is_insiders"].astype(bool).tolist()
    trace = {
        "type": "scatter", "mode": "markers+lines", "x": x, "y": names,
        "line": {"color": "#bdc3c7"},
        "marker": {"size": [20 if i else 12 for i in insiders], "color": colors,
                   "symbol": ["star" if i else "circle" for i in insiders],
                   "line": {"width": [2 if i else 0 for i in insiders], "color": "#2c3e50"}},
        "text": [f"run #{r} · {'Insider' if i else 'not an Insider'}"
                 for r, i in zip(history["run_id"], insiders, strict=True)],
        "hovertemplate": "as of %{x}<br>%{y}<br>%{text}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(
        "Cluster at each run (★ = Insider)", 280,
        xaxis=_axis(type="date", title={"text": "data as of"}),
        yaxis=_axis(type="category"), showlegend=False)}


def threshold_value(thresholds: dict | None, side: str, feature: str) -> float | None:
    """The level of ``feature`` on the ``side`` ("entry"/"exit") of the pipeline's thresholds."""
    rule = ((thresholds or {}).get(side) or {}).get(feature) or {}
    return rule.get("value")


def features_figure(history: pd.DataFrame, thresholds: dict[int, dict]) -> dict:
    """One panel per feature across runs, with the entry and exit thresholds of each run."""
    if history.empty:
        return empty_figure("No features to show")
    x = [str(d) for d in history["as_of"]]
    traces, layout, annotations = [], {}, []
    for i, feature in enumerate(FEATURE_COLUMNS):
        row, col = divmod(i, 3)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = col / 3 + 0.03, 1 - row * 0.56
        layout[f"xaxis{suffix}"] = _axis(domain=[x0, x0 + 0.27], anchor=f"y{suffix}",
                                         type="date", nticks=4)
        layout[f"yaxis{suffix}"] = _axis(domain=[y1 - 0.36, y1], anchor=f"x{suffix}")
        annotations.append({"text": f"<b>{FEATURE_LABELS[feature]}</b>", "showarrow": False,
                            "xref": "paper", "yref": "paper", "x": x0 + 0.135, "y": y1 + 0.02,
                            "xanchor": "center", "yanchor": "bottom"})
        axes = {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x,
                       "y": history[feature].astype(float).tolist(), "showlegend": False,
                       "name": FEATURE_LABELS[feature], "line": {"color": "#2c3e50"}, **axes})
        for side, color, dash in (("entry", "#18bc9c", "dash"), ("exit", "#e74c3c", "dot")):
            values = [threshold_value(thresholds.get(int(r)), side, feature)
                      for r in history["run_id"]]
            if any(v is not None for v in values):
                traces.append({"type": "scatter", "mode": "lines", "x": x, "y": values,
                               "line": {"color": color, "dash": dash, "shape": "hv"},
                               "name": f"{side} threshold", "legendgroup": side,
                               "showlegend": not any(t.get("legendgroup") == side
                                                     for t in traces), **axes})
    return {"data": traces, "layout": _layout(
        "Features across runs against the thresholds", 540, annotations=annotations,
        legend={"orientation": "h", "y": -0.12}, margin={"l": 50, "r": 20, "t": 90, "b": 40},
        **layout)}


def bar_compare(title: str, labels: list[str], values: list[float], colors: list[str],
                text: str = "%{y:,.0f}") -> dict:
    trace = {"type": "bar", "x": labels, "y": values, "marker": {"color": colors},
             "texttemplate": text, "textposition": "auto", "hoverinfo": "skip"}
    return {"data": [trace], "layout": _layout(title, 300, xaxis=_axis(), yaxis=_axis(),
                                               showlegend=False)}


# a grid's CSV holds the data, not what is shown: raw numbers, and field names as headers
EXPORT_AS_DATA = {"useValueFormatterForExport": False, "headerValueGetter": {
    "function": "params.location === 'csv' ? params.colDef.field : params.colDef.headerName"}}


def grid(grid_id: str, rows: list[dict], columns: list[dict],
         filename: str = "export.csv") -> dag.AgGrid:
    """A sortable, filterable grid with CSV export (trigger with ``exportDataAsCsv``)."""
    return dag.AgGrid(
        id=grid_id,
        rowData=rows,
        columnDefs=columns,
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "flex": 1,
                       "minWidth": 110, "wrapHeaderText": True, "autoHeaderHeight": True,
                       **EXPORT_AS_DATA},
        dashGridOptions={"pagination": True, "paginationPageSize": 20, "domLayout": "autoHeight",
                         "animateRows": False, "enableCellTextSelection": True,
                         "tooltipShowDelay": 300},
        csvExportParams={"fileName": filename},
        style={"width": "100%"},
    )


def number_column(field: str, header: str, fmt: str = ",.0f", **extra) -> dict:
    # wide enough for a one-word header beside its menu and filter icons ("Customers" broke
    # into "Customer/s" at the default width on a phone)
    return {"field": field, "headerName": header, "filter": "agNumberColumnFilter",
            "type": "rightAligned", "minWidth": min(135, extra.get("maxWidth", 135)),
            "valueFormatter": {"function": f"params.value == null ? '' : "
                                           f"d3.format('{fmt}')(params.value)"},
            **extra}


def distinctive_figure(rows: list[dict]) -> dict:
    """Mean of the Insiders as a multiple of the rest's, per feature: dots on a linear axis
    from zero with a line at 1 (= no difference)."""
    rows = [r for r in rows if finite_or_none(r.get("ratio")) is not None]
    if not rows:
        return empty_figure("No feature comparison stored")
    ratios = [float(r["ratio"]) for r in rows]
    trace = {"type": "scatter", "mode": "markers+text",
             "y": [FEATURE_LABELS.get(r["feature"], r["feature"]) for r in rows],
             "x": ratios, "marker": {"color": INSIDERS_GOLD, "size": 14,
                                     "line": {"color": "#2c3e50", "width": 1}},
             "text": [f"×{v:.1f}" if v >= 1 else f"×{v:.2f}" for v in ratios],
             "textposition": "middle right", "cliponaxis": False,
             "hovertemplate": "%{y}: Insiders' mean is ×%{x:.2f} the rest's<extra></extra>"}
    return {"data": [trace], "layout": _layout(
        "Insiders' mean as a multiple of the rest's", 300, showlegend=False,
        xaxis=_axis(range=[0, max(ratios) * 1.15 + 0.2], zeroline=True,
                    title={"text": "× the rest (1 = same)"}),
        yaxis=_axis(autorange="reversed"),
        shapes=[{"type": "line", "x0": 1, "x1": 1, "yref": "paper", "y0": 0, "y1": 1,
                 "line": {"color": "#7b8a8b", "dash": "dot"}}])}


def shares_figure(customer_share: float, revenue_share: float) -> dict:
    return bar_compare("Insiders: share of customers and of revenue",
                       ["Share of customers", "Share of revenue"],
                       [customer_share * 100, revenue_share * 100],
                       ["#95a5a6", INSIDERS_GOLD], text="%{y:.1f}%")


def evidence_figure(evidence: dict) -> dict:
    """Insiders' mean relative to the rest's (= 1), with the 95% intervals, per feature."""
    names, values, low, high = [], [], [], []
    for name, c in (evidence or {}).items():
        rest, mean = finite_or_none(c.get("rest_mean")), finite_or_none(c.get("insiders_mean"))
        ci = c.get("insiders_ci95") or [mean, mean]
        if not rest or mean is None or None in (finite_or_none(ci[0]), finite_or_none(ci[1])):
            continue
        names.append(FEATURE_LABELS.get(name, name))
        values.append(mean / rest)
        low.append((mean - ci[0]) / rest)
        high.append((ci[1] - mean) / rest)
    if not names:
        return empty_figure("No evidence stored")
    trace = {"type": "bar", "x": names, "y": values, "marker": {"color": INSIDERS_GOLD},
             "error_y": {"type": "data", "symmetric": False, "array": high, "arrayminus": low,
                         "color": "#2c3e50"},
             "hovertemplate": "%{x}: ×%{y:.2f} the rest<extra></extra>"}
    return {"data": [trace], "layout": _layout(
        "Insiders vs the rest (1 = same), 95% intervals", 300, showlegend=False,
        xaxis=_axis(), yaxis=_axis(rangemode="tozero"),
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                 "line": {"color": "#7b8a8b", "dash": "dot"}}])}
