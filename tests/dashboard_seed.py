"""A small, seeded history of runs written straight into the schema tables for dashboard tests.

Three succeeded monthly runs, one failed run, two model versions, four named clusters and the
membership events between consecutive runs, each with its cause and reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, delete, insert, or_, select, text

from pipeline.columns import FEATURE_COLUMNS
from store import run_index
from store.labels import LabelSpan, LabelStage
from store.results import publish_run_labels
from store.schema import Cluster, MembershipEvent, ModelVersion, Run, RunFile

CLUSTERS = [
    {"cluster": 0, "name": "Insiders", "color": "#d4a017", "is_insiders": True},
    {"cluster": 1, "name": "Loyal regulars", "color": "#2c7fb8", "is_insiders": False},
    {"cluster": 2, "name": "Occasional buyers", "color": "#41ab5d", "is_insiders": False},
    {"cluster": 3, "name": "Lapsed", "color": "#9e9ac8", "is_insiders": False},
]
THRESHOLDS = {
    "entry": {"gross_revenue": {"op": ">=", "value": 3000.0},
              "recency_days": {"op": "<=", "value": 40.0}},
    "exit": {"gross_revenue": {"op": "<", "value": 2000.0},
             "recency_days": {"op": ">", "value": 90.0}},
}
AS_OF = [date(2011, 9, 30), date(2011, 10, 31), date(2011, 11, 30)]
N_CUSTOMERS = 60


def _features(rng: np.random.Generator, month: int) -> dict[str, np.ndarray]:
    base = rng.gamma(1.2, 1500.0, N_CUSTOMERS) * (1 + 0.15 * month)
    return {
        "gross_revenue": np.round(base, 2),
        "recency_days": rng.integers(1, 200, N_CUSTOMERS),
        "invoice_quantity": rng.integers(1, 30, N_CUSTOMERS),
        "items_quantity": rng.integers(10, 3000, N_CUSTOMERS),
        "products_quantity": rng.integers(1, 200, N_CUSTOMERS),
        "avg_ticket": np.round(rng.gamma(2.0, 20.0, N_CUSTOMERS), 2),
    }


def _labels(run_id: int, features: dict, previous: set[int]) -> list[dict]:
    rows = []
    for i in range(N_CUSTOMERS):
        revenue, recency = features["gross_revenue"][i], features["recency_days"][i]
        cid = 12000 + i
        keeps = cid in previous and revenue >= 2000 and recency <= 90
        insider = bool(keeps or (revenue >= 3000 and recency <= 40))
        cluster = 0 if insider else (1 if revenue > 1500 else (2 if recency < 100 else 3))
        row = {"run_id": run_id, "customer_id": cid, "cluster": cluster, "is_insiders": insider,
               "embedding_x": float(cluster * 3 + (i % 7) * 0.3),
               "embedding_y": float((i % 5) * 0.5 - cluster)}
        row.update({f: float(features[f][i]) for f in FEATURE_COLUMNS})
        for f in ("recency_days", "invoice_quantity", "items_quantity", "products_quantity"):
            row[f] = int(row[f])
        rows.append(row)
    return rows


def _events(run_id: int, previous_run: int, before: list[dict], after: list[dict]) -> list[dict]:
    events = []
    for old, new in zip(before, after, strict=True):
        if old["is_insiders"] == new["is_insiders"]:
            continue
        kind = "entered" if new["is_insiders"] else "exited"
        feature = "gross_revenue"
        threshold = 3000.0 if kind == "entered" else 2000.0
        verb = "rose above" if kind == "entered" else "fell below"
        events.append({
            "run_id": run_id, "previous_run_id": previous_run, "customer_id": new["customer_id"],
            "kind": kind, "cause": "feature",
            "reason": f"gross revenue {verb} {threshold:,.0f} "
                      f"({old[feature]:,.0f} -> {new[feature]:,.0f})",
            "details": {"feature": feature, "threshold": threshold,
                        "before": old[feature], "after": new[feature]},
        })
    return events


def _report(labels: list[dict], as_of: date) -> dict:
    """The real pipeline's report for these labels (its seven answers, as stored by a run)."""
    import pandas as pd

    from pipeline.report import build_report

    frame = pd.DataFrame(labels).set_index("customer_id").drop(columns="run_id")
    return build_report(frame, as_of=as_of, thresholds=THRESHOLDS).to_dict()


def seed(engine: Engine, *, seed: int = 7) -> dict[str, int]:
    """Write the history; returns the ids a test may want (current, previous, failed)."""
    rng = np.random.default_rng(seed)
    now = datetime(2011, 12, 1, 3, 0, tzinfo=UTC)
    with engine.begin() as conn:
        for version, fitted in ((1, AS_OF[0]), (2, AS_OF[2])):
            conn.execute(insert(ModelVersion).values(
                version=version, created_at=now, fitted_as_of=fitted, data_fingerprint="f" * 64,
                code_version="test", parameters={"n_clusters": 4}, thresholds=THRESHOLDS,
                clusters=CLUSTERS, metrics={}, artifact=b"",
                created_by_run_id=None, parent_version=version - 1 or None,
            ))
        previous: list[dict] = []
        for run_id, as_of in enumerate(AS_OF, start=1):
            labels = _labels(run_id, _features(rng, run_id),
                             {r["customer_id"] for r in previous if r["is_insiders"]})
            _write_run(conn, run_id, as_of, labels, now + timedelta(days=run_id))
            if previous:
                events = _events(run_id, run_id - 1, previous, labels)
                if events:
                    conn.execute(insert(MembershipEvent), events)
            previous = labels
        conn.execute(insert(Run).values(
            id=4, status="failed", trigger="schedule", requested_by=None, as_of=None,
            queued_at=now + timedelta(days=5), started_at=now + timedelta(days=5),
            finished_at=now + timedelta(days=5, minutes=2),
            error="PipelineInputError: no transactions after 2011-11-30",
            progress_stage="features", progress_percent=20.0, parameters={}, metrics={},
            report={},
        ))
        if conn.dialect.name == "postgresql":  # explicit ids above: move the sequence past them
            conn.execute(text("SELECT setval('runs_id_seq', (SELECT max(id) FROM runs))"))
    return {"current": 3, "previous": 2, "first": 1, "failed": 4}


def _write_run(conn, run_id: int, as_of: date, labels: list[dict], at: datetime) -> None:
    insiders = [r for r in labels if r["is_insiders"]]
    revenue = sum(r["gross_revenue"] for r in labels)
    conn.execute(insert(Run).values(
        id=run_id, status="succeeded", trigger="backfill" if run_id < 3 else "schedule",
        requested_by="admin" if run_id < 3 else None, as_of=as_of, refit=run_id == 3,
        queued_at=at, started_at=at, finished_at=at + timedelta(seconds=42 + run_id),
        heartbeat_at=at, progress_stage="done", progress_percent=100.0, parameters={},
        model_version=1 if run_id < 3 else 2, random_state=42,
        n_customers=len(labels), n_insiders=len(insiders),
        insiders_share=len(insiders) / len(labels),
        revenue_share=sum(r["gross_revenue"] for r in insiders) / revenue,
        silhouette=0.41, metrics={}, report=_report(labels, as_of),
    ))
    clusters = []
    for spec in CLUSTERS:
        members = [r for r in labels if r["cluster"] == spec["cluster"]]
        profile = {f: float(np.mean([r[f] for r in members])) if members else 0.0
                   for f in FEATURE_COLUMNS}
        profile["insiders_members"] = sum(bool(r["is_insiders"]) for r in members)
        clusters.append({**spec, "run_id": run_id, "size": len(members),
                         "share": len(members) / len(labels),
                         "revenue_share": sum(r["gross_revenue"] for r in members) / revenue,
                         "profile": profile})
    conn.execute(insert(Cluster), clusters)
    conn.execute(insert(LabelStage), labels)  # and published, as a worker does
    publish_run_labels(conn, run_id)


ORIGIN = {"Origin": "http://localhost"}


def login(client, username: str, password: str):
    """Log ``client`` (a Flask test client) in through the real form, CSRF token included."""
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", data={"csrf_token": token, "username": username,
                                       "password": password}, headers=ORIGIN)


def call(client, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
         state: list[tuple[str, str, object]] = ()):
    """POST one callback to /_dash-update-component the way the browser does."""
    out = [{"id": i, "property": p} for i, p in outputs]
    output = (f"{outputs[0][0]}.{outputs[0][1]}" if len(outputs) == 1
              else ".." + "...".join(f"{i}.{p}" for i, p in outputs) + "..")
    body = {
        "output": output, "outputs": out[0] if len(out) == 1 else out,
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
    }
    return client.post("/_dash-update-component", json=body, headers=ORIGIN)


def page(client, path: str, search: str = ""):
    """Render a page through the Dash Pages router callback."""
    return call(client, [("_pages_content", "children"), ("_pages_store", "data")],
                [("_pages_location", "pathname", path), ("_pages_location", "search", search)])


def drop_from_run(conn, run_id: int, customer_ids) -> None:
    """Take customers out of one published run (ids consecutive, as seeded here) by splitting
    the spans of labels that hold them there."""
    spans = LabelSpan.__table__
    for customer in customer_ids:
        row = conn.execute(select(spans).where(
            spans.c.customer_id == int(customer), spans.c.first_run <= run_id,
            or_(spans.c.end_run.is_(None), spans.c.end_run > run_id))).mappings().first()
        if row is None:
            continue
        conn.execute(delete(spans).where(spans.c.customer_id == int(customer),
                                         spans.c.first_run == row["first_run"]))
        if row["first_run"] < run_id:
            conn.execute(insert(spans).values({**row, "end_run": run_id}))
        if row["end_run"] is None or row["end_run"] > run_id + 1:
            conn.execute(insert(spans).values({**row, "first_run": run_id + 1}))
    # the run's summary, stored when it was published, no longer holds: read from the labels
    conn.execute(delete(RunFile).where(RunFile.run_id == run_id,
                                       RunFile.name == run_index.SUMMARY_FILE))
