"""Who entered and who left (with kind, cause and reason), and one customer's story."""

from __future__ import annotations

from apiflask import APIBlueprint

from dashboard import data, data_customer
from dashboard.api import contacts, forecasts, paging, reads, schemas, tables
from dashboard.api.problems import problem
from dashboard.api.runs import RUN_ID
from pipeline.reasons import without_wording

blueprint = APIBlueprint("changes", __name__, tag="Changes")


def _changes(older: dict, newer: dict, query: dict):
    def answer():
        head = {"from_run_id": older["id"], "to_run_id": newer["id"]}
        return reads.paged(lambda after, rows: paging.changes(
            older, newer, query.get("kind"), query.get("cause"), after, rows, reads.engine()),
            query, head)

    return reads.cached((older["id"], newer["id"]), answer, with_contacts=True)


@blueprint.get(f"/runs/{RUN_ID}/changes")
@blueprint.input(schemas.ChangesQuery, location="query", arg_name="query")
@blueprint.output(schemas.ChangesPage)
def run_changes(run_id: int, query: dict):
    """Who entered and who left in a succeeded run, compared with the succeeded run before."""
    run = reads.succeeded(run_id)
    return _changes(reads.previous(run), run, query)


@blueprint.get("/runs/current/changes")
@blueprint.input(schemas.ChangesQuery, location="query", arg_name="query")
@blueprint.output(schemas.ChangesPage)
def current_changes(query: dict):
    """Who entered and who left in the current run, compared with the run before."""
    run = reads.succeeded(None)
    return _changes(reads.previous(run), run, query)


@blueprint.get("/changes")
@blueprint.input(schemas.BetweenQuery, location="query", arg_name="query")
@blueprint.output(schemas.ChangesPage)
def changes_between(query: dict):
    """Who is in Insiders in ``to_run`` (default: the current run) and was not in
    ``from_run``, and the reverse: changes between two runs, or since a run."""
    older, newer = reads.succeeded(query["from_run"]), reads.succeeded(query.get("to_run"))
    if (older["as_of"], older["id"]) > (newer["as_of"], newer["id"]):
        raise problem(400, "from_run must be older than to_run")
    return _changes(older, newer, query)


@blueprint.get("/customers/<int(max=9223372036854775807):customer_id>")
@blueprint.output(schemas.CustomerOut)
def customer(customer_id: int):
    """A customer's status in the current run, history across runs and reasons for each
    entry and exit."""
    history = data_customer.customer_history(customer_id, reads.engine())
    if history.empty:
        raise problem(404, f"customer {customer_id} is in no succeeded run")
    current = data.current_run(reads.engine())
    now = history[history["run_id"] == current["id"]] if current else history.iloc[:0]
    row = tables.records(now)[0] if len(now) else None
    status = "absent" if row is None else ("insider" if row["is_insiders"] else "not_insider")
    return {
        "customer_id": customer_id, "current_run_id": current["id"] if current else None,
        "as_of": current["as_of"] if current else None, "status": status,
        "cluster": row["cluster"] if row else None,
        "cluster_name": row["cluster_name"] if row else None,
        "contact": contacts.contact(customer_id, reads.engine()),
        **forecasts.customer_forecast(customer_id, current["id"] if current else None,
                                      reads.engine()),
        "history": tables.records(history), "reasons": [
            {**event, "details": without_wording(event["details"])}
            for event in data_customer.customer_events(customer_id, reads.engine())],
    }
