"""Charts of the stored report that only the Report page draws."""

from __future__ import annotations


def calibration_figure(rows: list[dict]) -> dict:
    """The forecast's calibration: mean predicted and mean actual spend per customer, by tenth
    of customers ranked by predicted spend (the report's stored table, nothing recomputed)."""
    tenths = [f"{int(r['decile'])}" for r in rows]
    bars = [
        {"type": "bar", "name": "Predicted", "x": tenths,
         "y": [r["mean_predicted"] for r in rows], "marker": {"color": "#95a5a6"},
         "hovertemplate": "Tenth %{x}: predicted %{y:,.0f} per customer<extra></extra>"},
        {"type": "bar", "name": "Actually spent", "x": tenths,
         "y": [r["mean_actual"] for r in rows], "marker": {"color": "#2c7fb8"},
         "hovertemplate": "Tenth %{x}: spent %{y:,.0f} per customer<extra></extra>"},
    ]
    return {"data": bars, "layout": {
        "title": {"text": "Forecast vs what customers then spent", "x": 0.02,
                  "font": {"size": 15}}, "font": {"size": 11},
        "height": 360, "barmode": "group", "paper_bgcolor": "white", "plot_bgcolor": "white",
        "margin": {"l": 50, "r": 20, "t": 50, "b": 100},
        "legend": {"orientation": "h", "y": -0.42, "x": 0},
        "xaxis": {"title": {"text": "Tenth of customers by predicted spend (10: highest)"},
                  "automargin": True},
        "yaxis": {"title": {"text": "Spend per customer"}, "gridcolor": "#ecf0f1",
                  "rangemode": "tozero", "automargin": True}}}
