"""The page for an address that is not one of the dashboard's, with a way back."""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboard import widgets

dash.register_page(__name__, path="/404", name="Not found", title="Insiders · Page not found",
                   in_navbar=False)


def layout(**_kwargs) -> html.Div:
    return widgets.empty_state("This page does not exist", [
        "The address may be mistyped or out of date. ",
        dcc.Link("Go to the overview", href="/", className="alert-link"), "."])
