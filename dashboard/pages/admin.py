"""Admin: run history, starting a run with live progress, the schedule, failures and the audit log.

Progress is read from the runs table on every poll, so it survives a reload and every admin
sees the same run. Starting a run is checked on the server (role, rate limit) and audited.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import auth, charts, data, ids, tokens_panel, warmup, widgets
from dashboard.config import app_engine, app_settings, warm_enabled
from dashboard.pages import admin_webhooks
from store.queue import request_run
from store.schema import ACTIVE_STATUSES, FAILED, QUEUED, RUNNING, SUCCEEDED, UNCHANGED

dash.register_page(__name__, path="/admin", name="Admin", order=4, title="Insiders · Admin",
                   admin_only=True)
tokens_panel.register_callbacks()
admin_webhooks.register_callbacks()

POLL_MS = 1500


def layout(**_kwargs) -> html.Div:
    if not auth.is_admin():
        return html.Div([html.H2("Admin"), widgets.empty_state(
            "Admins only", "Your account can look at every page but cannot start runs. "
            "Ask an admin if a run is needed.", color="warning")])
    settings = app_settings()
    return html.Div([
        html.H2("Admin"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H5("Start a run", className="card-title"),
                html.P("Segment the customers with the latest data. One run at a time; a "
                       "request while one is active shows that run.", className="text-muted"),
                dbc.Checkbox(id=ids.AD_REFIT, label="Refit the model (new model version)",
                             value=False, className="mb-2"),
                dbc.Button("Start a run", id=ids.AD_RUN_NOW, color="primary"),
                html.Div(id=ids.AD_MESSAGE, className="mt-2"),
                html.Div(id=ids.AD_PROGRESS, className="mt-2"),
            ]), className="shadow-sm h-100"), lg=6),
            dbc.Col(dbc.Card(dbc.CardBody([
                html.H5("Schedule", className="card-title"),
                html.P(["Scheduled run: ", html.Code(settings.schedule_cron),
                        f" ({describe_cron(settings.schedule_cron)})"]),
                html.P(f"Model refit: a run fits a new model version when the current one is "
                       f"{settings.refit_every_days} days older than the run's data, or when "
                       "asked (Start a run with refit)."),
                html.P(f"A run whose heartbeat is older than {settings.stale_after_seconds} s "
                       "is marked failed by the reaper.", className="text-muted small mb-0"),
            ]), className="shadow-sm h-100"), lg=6),
        ], className="g-3 mb-3"),
        dcc.Interval(id=ids.AD_POLL, interval=POLL_MS),
        html.Div([html.H4("Run history", className="mb-0"),
                  dbc.Button("Export CSV", id=ids.AD_EXPORT, size="sm", color="secondary",
                             outline=True)],
                 className="d-flex justify-content-between align-items-end mb-2"),
        charts.grid(ids.AD_HISTORY, [], _history_columns(), filename="runs.csv"),
        html.H4("Failed runs", className="mt-3"),
        html.Div(id=ids.AD_FAILED),
        html.H4("Audit log", className="mt-3"),
        charts.grid(ids.AD_AUDIT, [], [
            {"field": "at", "headerName": "When (UTC)", "minWidth": 170},
            {"field": "username", "headerName": "Who", "maxWidth": 160},
            {"field": "event", "headerName": "What happened", "flex": 3,
             "tooltipField": "event"}],
            filename="audit.csv"),
        tokens_panel.panel(),
        admin_webhooks.section(),
    ])


AUDIT_WORDS = {
    "login": "Signed in", "login_failed": "Failed to sign in", "logout": "Signed out",
    "run_requested": "Asked for a run", "run_queued": "Started a run",
    "run_already_active": "Asked for a run while one was active",
    "run_refused": "Was refused a run", "run_not_started": "Could not start a run",
    "user_created": "Account created", "user_updated": "Account changed",
    "token_created": "API token created", "token_revoked": "API token revoked",
}


def _detail(key: str, value) -> str:
    if key == "run_id":
        return f"run #{value}"
    if key == "ip":
        return f"from {value}"
    if key == "refit" and isinstance(value, bool):
        return "with a model refit" if value else "without a refit"
    if key in ("reason", "error"):
        return str(value)
    return f"{key.replace('_', ' ')} {value}"


def audit_sentence(action: str, details: dict | None) -> str:
    """An audit entry as a sentence: "Started a run: run #5." rather than a dict."""
    words = AUDIT_WORDS.get(action) or action.replace("_", " ").capitalize()
    parts = [_detail(k, v) for k, v in (details or {}).items() if v not in (None, "")]
    if not parts:
        return f"{words}."
    joiner = " " if parts[0].startswith(("from ", "with ", "without ")) else ": "
    return f"{words}{joiner}{', '.join(parts)}."


def describe_cron(expression: str) -> str:
    """Plain words for the common cron shapes; the expression itself otherwise."""
    minute, hour, dom, month, dow = expression.split()
    if minute.isdigit() and hour.isdigit():
        at = f"{int(hour):02d}:{int(minute):02d}"
        if dom == month == dow == "*":
            return f"every day at {at}"
        if dom.isdigit() and month == dow == "*":
            return f"on day {dom} of every month at {at}"
        if dom == month == "*" and dow.isdigit():
            day = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")[int(dow) % 7]
            return f"every {day} at {at}"
    return "cron expression"


def _history_columns() -> list[dict]:
    return [
        charts.number_column("id", "Run", "d", maxWidth=90),
        {"field": "status", "headerName": "Status", "maxWidth": 120,
         "cellClassRules": {"text-danger fw-bold": f"params.value == '{FAILED}'",
                            "text-success": f"params.value == '{SUCCEEDED}'",
                            "text-primary": f"params.value == '{RUNNING}'"}},
        {"field": "trigger", "headerName": "Started", "minWidth": 150, "maxWidth": 220,
         "tooltipField": "trigger"},
        {"field": "requested_by", "headerName": "Who", "maxWidth": 130},
        {"field": "as_of", "headerName": "As of", "maxWidth": 130},
        {"field": "queued_at", "headerName": "Queued (UTC)", "minWidth": 170},
        {"field": "duration", "headerName": "Duration", "maxWidth": 130},
        charts.number_column("model_version", "Model", "d", maxWidth=100),
        charts.number_column("n_insiders", "Insiders"),
        {"field": "error", "headerName": "Error", "flex": 2, "tooltipField": "error"},
    ]


def history_rows(runs: list[dict]) -> list[dict]:
    return [{
        "id": r["id"], "status": r["status"], "trigger": widgets.TRIGGER_WORDS.get(
            r["trigger"], r["trigger"]),
        "requested_by": r.get("requested_by") or "", "as_of": str(r["as_of"] or ""),
        "queued_at": widgets.when(r.get("queued_at")), "duration": widgets.duration(r),
        "model_version": r.get("model_version"), "n_insiders": r.get("n_insiders"),
        "error": widgets.plain_error(r["error"]) if r.get("error") else "",
    } for r in runs]


def progress_view(active: dict | None, latest: dict | None) -> html.Div:
    """The active run's stage and percent; else how the latest run ended."""
    if active:
        percent = float(active.get("progress_percent") or 0)
        stage = active.get("progress_stage") or ("waiting for a worker"
                                                 if active["status"] == QUEUED else "starting")
        return html.Div([
            html.Div(f"Run #{active['id']} {active['status']} · {stage} · {percent:.0f}%"
                     + (f" · asked by {active['requested_by']}" if active.get("requested_by")
                        else ""), id=ids.AD_PROGRESS_TEXT),
            dbc.Progress(value=max(percent, 3), striped=True, animated=True,
                         label=f"{percent:.0f}%"),
        ])
    if latest is None:
        return html.Div("No run yet.", className="text-muted", id=ids.AD_PROGRESS_TEXT)
    color = {SUCCEEDED: "success", FAILED: "danger"}.get(latest["status"], "secondary")
    finished = widgets.when(latest.get("finished_at"))
    text = f"Latest run #{latest['id']} {latest['status']} ({finished})"
    if latest["status"] == FAILED:
        text += f": {widgets.plain_error(latest.get('error'))}"
    elif latest["status"] == UNCHANGED:
        text = (f"Latest run #{latest['id']} ({finished}) found {latest.get('error')}: "
                "nothing new was recorded and the current run stays as it is.")
    return dbc.Alert(text, color=color, className="py-2 mb-0", id=ids.AD_PROGRESS_TEXT)


def failed_view(runs: list[dict]):
    failed = [r for r in runs if r["status"] == FAILED][:10]
    if not failed:
        return html.P("No failed runs.", className="text-muted")
    return dbc.ListGroup([dbc.ListGroupItem([
        html.Strong(f"Run #{r['id']} · {widgets.when(r.get('finished_at'))} · {r['trigger']}"),
        html.Div(widgets.plain_error(r.get("error")), className="text-danger small"),
    ]) for r in failed])


@callback(Output(ids.AD_PROGRESS, "children"), Output(ids.AD_HISTORY, "rowData"),
          Output(ids.AD_FAILED, "children"), Output(ids.AD_AUDIT, "rowData"),
          Input(ids.AD_POLL, "n_intervals"), Input(ids.AD_MESSAGE, "children"))
def poll(_n, _message):
    if not auth.is_admin():
        return no_update, no_update, no_update, no_update
    runs = data.run_history()
    if warm_enabled():
        warmup.warm_current()  # a run that just finished is read before anyone opens it
    active = next((r for r in runs if r["status"] in ACTIVE_STATUSES), None)
    audit = [{"at": widgets.when(a["at"]), "username": a["username"],
              "event": audit_sentence(a["action"], a["details"])} for a in data.audit_log()]
    return (progress_view(active, runs[0] if runs else None), history_rows(runs),
            failed_view(runs), audit)


@callback(Output(ids.AD_MESSAGE, "children"), Input(ids.AD_RUN_NOW, "n_clicks"),
          State(ids.AD_REFIT, "value"), prevent_initial_call=True)
def run_now(_clicks, refit: bool):
    """Start a run: admins only (checked here, on the server), rate-limited and audited."""
    engine, settings = app_engine(), app_settings()
    if not auth.is_admin():
        auth.audit(engine, "run_refused", {"reason": "not an admin"})
        return dbc.Alert("Only an admin can start a run.", color="danger", className="py-2")
    user = auth.username()
    if not auth.claim_run_request(engine, settings.run_rate_limit, user, {"refit": bool(refit)}):
        auth.audit(engine, "run_refused", {"reason": "rate limit"})
        return dbc.Alert(f"Too many requests: at most {settings.run_rate_limit}.",
                         color="warning", className="py-2")
    try:
        run, created = request_run(engine, trigger="manual", requested_by=user,
                                   refit=bool(refit))
    except Exception as exc:  # the broker may be down: tell the admin, keep the page alive
        auth.audit(engine, "run_not_started", {"error": str(exc)[:300]})
        return dbc.Alert(f"Could not start a run: {exc}", color="danger", className="py-2")
    auth.audit(engine, "run_queued" if created else "run_already_active", {"run_id": run.id})
    if created:
        return dbc.Alert(f"Run #{run.id} queued.", color="success", className="py-2")
    return dbc.Alert(f"Run #{run.id} is already {run.status}; showing its progress.",
                     color="info", className="py-2")


@callback(Output(ids.AD_HISTORY, "exportDataAsCsv"), Input(ids.AD_EXPORT, "n_clicks"),
          prevent_initial_call=True)
def export_history(_clicks: int) -> bool:
    return True
