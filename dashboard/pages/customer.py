"""Customer: one customer's Insiders status now, across runs, and the reason for each change."""

from __future__ import annotations

import re

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from dashboard import charts, data, data_customer, ids, widgets
from dashboard import data_forecasts as ahead
from dashboard import webhooks as contacts

MAX_CUSTOMER_ID = 2**63 - 1  # PostgreSQL's bigint
NUMBER_LIKE = re.compile(r"[+\-−]?[\d\s.,]*\d[\d\s.,]*(e[+\-]?\d+)?", re.IGNORECASE)

dash.register_page(__name__, path="/customer", name="Customer", order=2,
                   title="Insiders · Customer")


def layout(id: str | None = None, **_kwargs) -> html.Div:
    return html.Div([
        html.H2("Customer"),
        dbc.Row(dbc.Col(dbc.InputGroup([
            dbc.Input(id=ids.CU_INPUT, type="text",
                      placeholder="Customer id, email or name, e.g. 12346",
                      value=_typed_text(id) or None, debounce=True, maxLength=100),
            dbc.Button("Find", id=ids.CU_FIND, color="primary"),
        ]), md=5), className="mb-3"),
        dcc.Loading(html.Div(id=ids.CU_RESULT)),
    ])


def _typed_text(value) -> str:
    """What was typed or put in the URL, as text (a list from a repeated URL key: its first)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()[:100]


def _as_int(value) -> int | None:
    """A customer id: whole ASCII digits that fit the database's integer ("1.5", "-1", "1e3"
    and "１２" are not ids)."""
    text = _typed_text(value)
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_CUSTOMER_ID else None


def not_an_id(text: str) -> html.Div | None:
    """A message for typed text that looks like a number but is not a customer id."""
    if not NUMBER_LIKE.fullmatch(text):
        return None
    if text.isascii() and text.isdigit():
        return widgets.empty_state(f"No customer has the id {text[:24]}{'…' * (len(text) > 24)}",
                                   "Customer ids are whole numbers from 1 to 19 digits long.",
                                   color="warning")
    return widgets.empty_state(
        f"“{text}” is not a customer id",
        "Customer ids are whole numbers such as 12346 (no sign, decimals or spaces).",
        color="warning")


def status_text(history: pd.DataFrame, events: list[dict]) -> tuple[str, str]:
    """'Insider since DATE', 'Left Insiders on DATE' or 'Never an Insider', with a colour."""
    if history.empty:
        return "Not found in any run", "secondary"
    flags = history["is_insiders"].astype(bool).tolist()
    dates = history["as_of"].tolist()
    if flags[-1]:
        start = len(flags) - 1
        while start > 0 and flags[start - 1]:
            start -= 1
        return f"Insider since {dates[start]}", "warning"
    if any(flags):
        last_in = max(i for i, flag in enumerate(flags) if flag)
        return f"Left Insiders on {dates[last_in + 1]}", "danger"
    return "Never an Insider", "secondary"


def _events_table(events: list[dict]) -> html.Div:
    if not events:
        return html.P("No entries or exits recorded for this customer.", className="text-muted")
    rows = [html.Tr([html.Td(f"#{e['run_id']} · {e['as_of']}"),
                     html.Td(dbc.Badge(e["kind"], color="success" if e["kind"] == "entered"
                                       else "danger")),
                     html.Td(e.get("cause") or ""), html.Td(e.get("reason") or "")])
            for e in events]
    head = html.Thead(html.Tr([html.Th("Run"), html.Th("Change"), html.Th("Cause"),
                               html.Th("Reason")]))
    return dbc.Table([head, html.Tbody(rows)], striped=True, hover=True, size="sm")


def contact_card(contact: dict | None) -> html.Div:
    """Email, name, country and marketing consent, when contact details were imported."""
    if contact is None:
        return html.P("No contact details for this customer (insiders customers import).",
                      className="text-muted small")
    consent = ("agrees to marketing messages" if contact["marketing_consent"]
               else "has not agreed to marketing messages")
    return dbc.Card(dbc.CardBody([
        html.Strong(contact["name"] or "No name"), html.Span(" · "),
        html.A(contact["email"], href=f"mailto:{contact['email']}") if contact["email"]
        else html.Span("no email"),
        html.Span(f" · {contact['country'] or 'country unknown'} · {consent}"),
    ]), className="mb-3", id="cu-contact")


def forecast_card(run_id: int, customer: int) -> html.Div:
    """What the run's forecast expects of the customer, and, if at risk, when and why."""
    found = ahead.customer_forecast(run_id, customer)
    if found is None or found.get("expected_spend") is None:
        return html.Div()
    horizon = ahead.forecast_info(run_id).get("horizon_days", 90)
    chance = found.get("p_active")
    lines = [html.Div([html.Strong(f"Next {horizon} days: "),
                       f"about {found.get('expected_purchases') or 0:,.1f} purchases and "
                       f"{widgets.money(found['expected_spend'])} expected"
                       + (f"; {chance:.0%} chance they are still an active customer."
                          if chance is not None else ".")])]
    if found.get("at_risk_reason"):
        when = (f"At risk: leaves on {found['at_risk_on']:%d %b %Y} unless they buy. "
                if found.get("at_risk_on") else "At risk. ")
        lines.append(html.Div([html.Strong(when, className="text-danger"),
                               found["at_risk_reason"]], className="mt-1"))
    if found.get("qualify_reason"):
        lines.append(html.Div([html.Strong(f"About to qualify by {found['qualifies_on']:%d %b %Y}"
                                           ": ", className="text-success"),
                               found["qualify_reason"]], className="mt-1"))
    return dbc.Card(dbc.CardBody(lines), className="mb-3", id="cu-forecast")


def _matches(text: str):
    found = contacts.search_contacts(text)
    if not found:
        return widgets.empty_state(f"No customer matches \"{text.strip()}\"",
                                   "Search by customer id, or by part of an email or a name.",
                                   color="secondary")
    if len(found) == 1:
        return customer_view(int(found[0]["customer_id"]))
    return html.Div([html.P(f"{len(found)} customers match; pick one:"), dbc.ListGroup([
        dbc.ListGroupItem(f"{c['customer_id']} · {c['name'] or 'no name'} · "
                          f"{c['email'] or 'no email'}", href=f"/customer?id={c['customer_id']}")
        for c in found])], id="cu-matches")


@callback(Output(ids.CU_RESULT, "children"), Input(ids.CU_FIND, "n_clicks"),
          Input(ids.CU_INPUT, "value"), State(ids.CU_INPUT, "value"))
def find(_clicks, _typed, customer_id):
    customer, text = _as_int(customer_id), _typed_text(customer_id)
    if customer is None and text:
        return not_an_id(text) or _matches(text)
    if customer is None:
        if data.current_run() is None:
            return widgets.no_runs_state(data.active_run(), data.latest_run())
        return html.P("Type a customer id to see their status, history and reasons.",
                      className="text-muted")
    return customer_view(customer)


def customer_view(customer: int) -> html.Div:
    history = data_customer.customer_history(customer)
    if history.empty:
        return widgets.empty_state(f"Customer {customer} is in no run",
                                   "Check the id; customers appear once they have bought "
                                   "something up to a run's as-of date.", color="secondary")
    events = data_customer.customer_events(customer)
    text, color = status_text(history, events)
    thresholds = data_customer.thresholds_by_run(history["run_id"].tolist())
    latest = history.iloc[-1]
    return html.Div([
        dbc.Alert([html.H4(f"Customer {customer}: {text}", className="alert-heading mb-1"),
                   html.Span(f"In run #{latest['run_id']} (as of {latest['as_of']}) in cluster "
                             f"{latest['cluster_name'] or latest['cluster']}.")], color=color),
        contact_card(contacts.contact(customer)),
        forecast_card(int(latest["run_id"]), customer),
        dcc.Graph(figure=charts.timeline_figure(history), config={"displayModeBar": False}),
        dcc.Graph(figure=charts.features_figure(history, thresholds),
                  config={"displayModeBar": False}),
        html.H4("Entries and exits", className="mt-3"),
        _events_table(events),
    ])
