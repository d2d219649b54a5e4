"""What a run tells webhook receivers: ``run.succeeded``, ``run.failed``, ``membership.changed``.

Called inside the transaction that publishes (or fails) the run, so the outbox holds a
run's deliveries exactly when the run is published. Only customers with marketing consent
are named; the counts are always whole.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from settings import Settings, load_settings
from store import webhooks
from store.contacts import CustomerContact
from store.runs import reap_stale_runs
from store.schema import MembershipEvent, Run


def _links(settings: Settings, run_id: int) -> dict[str, str]:
    base = settings.public_url
    return {
        "changes_url": f"{base}/changes?run={run_id}",
        "api_changes_url": f"{base}/api/v1/runs/{run_id}/changes",
    }


def _counts(connection: Connection, run_id: int) -> dict[str, int]:
    rows = connection.execute(
        select(MembershipEvent.kind, func.count())
        .where(MembershipEvent.run_id == run_id).group_by(MembershipEvent.kind)
    ).all()
    counts = {kind: int(n) for kind, n in rows}
    return {"entered": counts.get("entered", 0), "exited": counts.get("exited", 0)}


def _consenting_changes(connection: Connection, run_id: int, limit: int | None) -> list[dict]:
    query = (
        select(MembershipEvent.customer_id, MembershipEvent.kind, MembershipEvent.cause,
               MembershipEvent.reason, CustomerContact.email, CustomerContact.name)
        .join(CustomerContact, CustomerContact.customer_id == MembershipEvent.customer_id)
        .where(MembershipEvent.run_id == run_id, CustomerContact.marketing_consent.is_(True))
        .order_by(MembershipEvent.kind, MembershipEvent.customer_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [dict(row) for row in connection.execute(query).mappings()]


def record_run_succeeded(
    connection: Connection, run_id: int, settings: Settings | None = None
) -> int:
    """Outbox rows for a published run; returns how many deliveries were recorded."""
    settings = settings or load_settings()
    succeeded = webhooks.subscriptions_for(connection, "run.succeeded")
    per_customer = webhooks.subscriptions_for(connection, "membership.changed")
    if not succeeded and not per_customer:
        return 0
    run = connection.execute(select(Run.__table__).where(Run.id == run_id)).mappings().one()
    recorded = 0
    if succeeded:
        limit = max(0, settings.webhook_inline_limit)
        inline = _consenting_changes(connection, run_id, limit + 1)
        data = {
            "run_id": run_id,
            "as_of": run["as_of"].isoformat() if run["as_of"] else None,
            "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None,
            "n_customers": run["n_customers"],
            "n_insiders": run["n_insiders"],
            "changes": _counts(connection, run_id),
            **_links(settings, run_id),
            "entered": [_customer(c) for c in inline[:limit] if c["kind"] == "entered"],
            "exited": [_customer(c) for c in inline[:limit] if c["kind"] == "exited"],
            # False: more customers (with consent) changed than the inline lists hold
            "inline_complete": len(inline) <= limit,
        }
        recorded += webhooks.record_deliveries(
            connection, succeeded, "run.succeeded", [data], run_id=run_id
        )
    if per_customer:
        changed_at = run["finished_at"].isoformat() if run["finished_at"] else None
        payloads = [
            {"run_id": run_id, "changed_at": changed_at, **_customer(c), "kind": c["kind"]}
            for c in _consenting_changes(connection, run_id, None)
        ]
        recorded += webhooks.record_deliveries(
            connection, per_customer, "membership.changed", payloads, run_id=run_id
        )
    return recorded


def _customer(change: dict) -> dict:
    return {
        "customer_id": int(change["customer_id"]),
        "email": change["email"],
        "name": change["name"],
        "cause": change["cause"],
        "reason": change["reason"],
    }


def record_run_failed(
    connection: Connection, run_id: int, reason: str, settings: Settings | None = None
) -> int:
    """Outbox rows telling ``run.failed`` subscribers why the run failed."""
    subscribers = webhooks.subscriptions_for(connection, "run.failed")
    if not subscribers:
        return 0
    settings = settings or load_settings()
    data = {"run_id": run_id, "reason": reason, "run_url": f"{settings.public_url}/admin"}
    return webhooks.record_deliveries(connection, subscribers, "run.failed", [data],
                                      run_id=run_id)


def reap_and_record(session: Session, settings: Settings) -> list[int]:
    """Fail stale runs (see ``store.runs.reap_stale_runs``) and record, in the same
    transaction, the ``run.failed`` message of each with the reason the reaper stored."""
    reaped = reap_stale_runs(
        session,
        stale_after_seconds=settings.stale_after_seconds,
        queued_timeout_seconds=settings.queued_timeout_seconds,
        hard_time_limit_seconds=settings.task_hard_time_limit,
    )
    for run_id in reaped:
        reason = session.execute(select(Run.error).where(Run.id == run_id)).scalar_one()
        record_run_failed(session.connection(), run_id, reason or "reaped", settings)
    return reaped
