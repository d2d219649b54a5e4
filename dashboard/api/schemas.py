"""The API's request and response shapes, declared once: validation and the OpenAPI document."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Float, Integer, List, Nested, String
from apiflask.validators import OneOf, Range

from store.schema import EVENT_KINDS

MAX_ID = 2**31 - 1
MAX_PAGE = 1000
CAUSES = ("feature", "model_update", "new_customer")


def _ints(*names: str) -> dict:
    return {name: Integer(allow_none=True) for name in names}


def _floats(*names: str) -> dict:
    return {name: Float(allow_none=True) for name in names}


class RunOut(Schema):
    id = Integer(required=True)
    status = String(required=True)
    trigger = String(required=True)
    requested_by = String(allow_none=True)
    as_of = Date(allow_none=True)
    refit = Boolean()
    queued_at = DateTime(allow_none=True)
    started_at = DateTime(allow_none=True)
    finished_at = DateTime(allow_none=True)
    progress_stage = String(allow_none=True)
    progress_percent = Float(allow_none=True)
    error = String(allow_none=True)
    model_version = Integer(allow_none=True)
    n_customers = Integer(allow_none=True)
    n_insiders = Integer(allow_none=True)
    insiders_share = Float(allow_none=True)
    revenue_share = Float(allow_none=True)
    silhouette = Float(allow_none=True)
    url = String(required=True)


class RunList(Schema):
    items = List(Nested(RunOut), required=True)


class RunsQuery(Schema):
    status = String(validate=OneOf(("queued", "running", "succeeded", "failed", "unchanged")))
    limit = Integer(load_default=100, validate=Range(1, MAX_PAGE))


class RunQueued(Schema):
    run_id = Integer(required=True)
    status = String(required=True)
    url = String(required=True)


class RunRequest(Schema):
    refit = Boolean(load_default=False)


class ClusterOut(Schema):
    run_id = Integer(required=True)
    cluster = Integer(required=True)
    name = String(required=True)
    color = String(required=True)
    is_insiders = Boolean(required=True)
    size = Integer(required=True)
    share = Float(required=True)
    revenue_share = Float(required=True)
    profile = Dict(keys=String(), values=Float(allow_none=True))


class ClusterList(Schema):
    items = List(Nested(ClusterOut), required=True)


class PageQuery(Schema):
    limit = Integer(load_default=MAX_PAGE, validate=Range(1, MAX_PAGE))
    cursor = String(load_default=None, metadata={
        "description": "next_cursor of the previous page (opaque)"})


class ChangesQuery(PageQuery):
    kind = String(validate=OneOf(EVENT_KINDS))
    cause = String(validate=OneOf(CAUSES), metadata={
        "description": "the stored cause; rows show it in words: feature is purchase activity "
                       "or inactivity, model_update is model update, new_customer new customer"})


class BetweenQuery(ChangesQuery):
    from_run = Integer(required=True, validate=Range(1, MAX_ID))
    to_run = Integer(validate=Range(1, MAX_ID), metadata={
        "description": "default: the current run"})


FEATURES = _floats("gross_revenue", "avg_ticket") | _ints(
    "recency_days", "invoice_quantity", "items_quantity", "products_quantity")

CONTACT = {"email": String(allow_none=True), "name": String(allow_none=True),
           "country": String(allow_none=True), "marketing_consent": Boolean(allow_none=True)}
_UNKNOWN = "null when no contact details were imported for the customer"

ContactOut = Schema.from_dict(CONTACT, name="ContactOut")

_AHEAD = "over the forecast horizon (INSIDERS_FORECAST_HORIZON_DAYS, 90 by default)"
FORECAST = {
    "p_active": Float(allow_none=True, metadata={
        "description": "chance the customer is still an active customer (0 to 1)"}),
    "expected_purchases": Float(allow_none=True, metadata={
        "description": f"expected purchase days {_AHEAD}"}),
    "expected_spend": Float(allow_none=True, metadata={"description": f"expected spend {_AHEAD}"}),
    "at_risk_on": Date(allow_none=True, metadata={
        "description": "an Insider at risk: the day they leave if they buy nothing"}),
    "at_risk_reason": String(allow_none=True, metadata={
        "description": "why the Insider is at risk (null when not at risk)"}),
}
QUALIFY = {
    "qualifies_on": Date(allow_none=True, metadata={
        "description": "about to qualify: the day by which expected purchases would make "
                       "the customer an Insider"}),
    "qualify_reason": String(allow_none=True),
}

InsiderOut = Schema.from_dict({
    "run_id": Integer(required=True), "as_of": Date(required=True),
    "customer_id": Integer(required=True), "cluster": Integer(required=True),
    "cluster_name": String(allow_none=True), **FEATURES, **FORECAST, **CONTACT,
}, name="InsiderOut")

InsidersPage = Schema.from_dict({
    "run_id": Integer(required=True), "as_of": Date(required=True),
    "total": Integer(required=True), "next_cursor": String(allow_none=True, required=True),
    "items": List(Nested(InsiderOut), required=True),
}, name="InsidersPage")

_SIDES = {f"{side}_{name}": Float(allow_none=True) if name in ("gross_revenue", "avg_ticket")
          else Integer(allow_none=True)
          for side in ("before", "after", "change")
          for name in ("gross_revenue", "invoice_quantity", "recency_days", "avg_ticket")}

ChangeOut = Schema.from_dict({
    "from_run_id": Integer(required=True), "to_run_id": Integer(required=True),
    "from_as_of": Date(required=True), "to_as_of": Date(required=True),
    "customer_id": Integer(required=True), "kind": String(required=True),
    "cause": String(allow_none=True), "reason": String(allow_none=True),
    "cluster_before": Integer(allow_none=True), "cluster_after": Integer(allow_none=True),
    **_SIDES, **CONTACT,
}, name="ChangeOut")

ChangesPage = Schema.from_dict({
    "from_run_id": Integer(required=True), "to_run_id": Integer(required=True),
    "total": Integer(required=True), "next_cursor": String(allow_none=True, required=True),
    "items": List(Nested(ChangeOut), required=True),
}, name="ChangesPage")

HistoryOut = Schema.from_dict({
    "run_id": Integer(required=True), "as_of": Date(required=True),
    "model_version": Integer(allow_none=True), "cluster": Integer(required=True),
    "cluster_name": String(allow_none=True), "is_insiders": Boolean(required=True),
    **FEATURES,
}, name="HistoryOut")

ReasonOut = Schema.from_dict({
    "run_id": Integer(required=True), "as_of": Date(allow_none=True),
    "kind": String(required=True), "cause": String(required=True),
    "reason": String(required=True), "details": Dict(allow_none=True),
}, name="ReasonOut")

CustomerOut = Schema.from_dict({
    "customer_id": Integer(required=True), "current_run_id": Integer(allow_none=True),
    "as_of": Date(allow_none=True),
    "status": String(required=True, metadata={
        "description": "insider, not_insider, or absent from the current run"}),
    "cluster": Integer(allow_none=True), "cluster_name": String(allow_none=True),
    "contact": Nested(ContactOut, allow_none=True, metadata={"description": _UNKNOWN}),
    **FORECAST, **QUALIFY,
    "history": List(Nested(HistoryOut), required=True),
    "reasons": List(Nested(ReasonOut), required=True),
}, name="CustomerOut")
