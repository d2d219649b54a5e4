"""One page of a run's Insiders or changes straight from SQL, by customer id (keyset), for a
read that finds nothing cached: a page costs a few indexed queries instead of the whole table
(for the changes between runs with stored customer indexes, the two indexes and the page's
customers by key).

The rows are those ``dashboard.data`` gives for the whole table (the same joins: Insiders in
one run and not in the other, the latest event of that kind in the runs between, reasons as
sentences); ``tests/unit/test_api_keyset.py`` pages through both and compares them.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, and_, false, func, or_, select

from dashboard import data, data_index
from dashboard.history import plain_reasons
from pipeline.run_compare import moved
from store import bulk, run_changes
from store.run_changes import KEY_FEATURES, side_columns
from store.schema import SUCCEEDED, CustomerLabel, MembershipEvent, Run

KINDS = ("entered", "exited")


def _count(engine: Engine, query) -> int:
    with engine.connect() as connection:
        return int(connection.execute(
            select(func.count()).select_from(query.subquery())).scalar_one())


def insiders_page(run: dict, after: int, rows: int, engine: Engine) -> tuple[pd.DataFrame, int]:
    """Up to ``rows`` Insiders of ``run`` with a customer id above ``after`` (by customer id,
    with cluster and features) and how many Insiders the run has."""
    label = CustomerLabel
    members = select(label.customer_id).where(label.run_id == run["id"], label.is_insiders)
    query = (
        select(label.customer_id, label.cluster, *data.LABEL_FEATURES)
        .where(label.run_id == run["id"], label.is_insiders, label.customer_id > after)
        .order_by(label.customer_id).limit(rows)
    )
    return bulk.read_frame(engine, query), _count(engine, members)


def _moves(older: int, newer: int, kind: str):
    """Customers Insiders in one run and not in the other (absent counts as not)."""
    labels = CustomerLabel.__table__
    before, after = labels.alias("older"), labels.alias("newer")
    inside, other = (after, before) if kind == "entered" else (before, after)
    inside_run, other_run = (newer, older) if kind == "entered" else (older, newer)
    side = [*side_columns(before, "before"), *side_columns(after, "after")]
    query = (
        select(inside.c.customer_id, before.c.cluster.label("cluster_before"),
               after.c.cluster.label("cluster_after"), *side)
        .select_from(inside.outerjoin(other, and_(other.c.customer_id == inside.c.customer_id,
                                                  other.c.run_id == other_run)))
        .where(inside.c.run_id == inside_run, inside.c.is_insiders,
               or_(other.c.is_insiders.is_(None), other.c.is_insiders == false()))
    )
    return query, inside.c.customer_id


def _runs_between(older: dict, newer: dict):
    after_older = or_(Run.as_of > older["as_of"],
                      and_(Run.as_of == older["as_of"], Run.id > older["id"]))
    up_to_newer = or_(Run.as_of < newer["as_of"],
                      and_(Run.as_of == newer["as_of"], Run.id <= newer["id"]))
    return select(Run.id).where(Run.status == SUCCEEDED, after_older, up_to_newer)


def _events(older: dict, newer: dict, ids: list[int], engine: Engine) -> pd.DataFrame:
    """The latest event of each kind of these customers in the runs after ``older`` up to
    ``newer``."""
    ev = MembershipEvent
    columns = [ev.run_id, ev.customer_id, ev.kind, ev.cause, ev.reason, ev.details]
    between = _runs_between(older, newer).scalar_subquery()
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).where(
            ev.run_id.in_(between), ev.customer_id.in_(ids))).all() if ids else []
    events = pd.DataFrame(rows, columns=[c.key for c in columns])
    return (events.sort_values("run_id", kind="stable")
            .drop_duplicates(["customer_id", "kind"], keep="last").drop(columns="run_id"))


def _moved(older: int, newer: int, kinds: tuple[str, ...], engine: Engine) -> pd.DataFrame:
    """Every customer who moved, with kind, clusters and key features, by customer id: a few
    thousand primary-key probes of one run into the other (not a hash of a whole run)."""
    parts = []
    for kind in kinds:
        query, _customer = _moves(older, newer, kind)
        parts.append(bulk.read_frame(engine, query, probe=True).assign(kind=kind))
    moved = pd.concat(parts, ignore_index=True)
    return moved.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _moved_ids(older: int, newer: int, kinds: tuple[str, ...],
               engine: Engine) -> pd.DataFrame | None:
    """Every customer who moved (``customer_id``, ``kind``), by customer id, from the runs'
    stored customer indexes; None when a run has none."""
    pair = data_index.indexes(older, newer, engine)
    if pair is None:
        return None
    found = dict(zip(KINDS, moved(*pair), strict=True))
    frame = pd.concat([pd.DataFrame({"customer_id": found[kind], "kind": kind})
                       for kind in kinds], ignore_index=True)
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def changes_page(older: dict, newer: dict, after: int, rows: int, kind: str | None,
                 engine: Engine) -> tuple[pd.DataFrame, int]:
    """Up to ``rows`` customers who entered or left (``kind``: only those) from ``older`` to
    ``newer`` with a customer id above ``after``, by customer id, as ``data.changes`` has
    them, and how many there are in all."""
    kinds = (kind,) if kind else KINDS
    indexed = _moved_ids(older["id"], newer["id"], kinds, engine)
    moved = _moved(older["id"], newer["id"], kinds, engine) if indexed is None else indexed
    start = int(moved["customer_id"].searchsorted(after, side="right"))
    moves = moved.iloc[start:start + rows].reset_index(drop=True)
    if indexed is not None:  # the page's figures alone, by key
        ids = moves["customer_id"].to_numpy()
        moves = (run_changes.figures(engine, older["id"], newer["id"], ids)
                 .assign(kind=moves["kind"].to_numpy()))
    if moves.empty:  # past the last page
        return moves, len(moved)
    events = _events(older, newer, [int(i) for i in moves["customer_id"]], engine)
    if events.empty:
        moves["cause"], moves["reason"], moves["details"] = None, None, None
    else:
        moves = moves.merge(events, on=["customer_id", "kind"], how="left")
    plain_reasons(moves)
    for feature in KEY_FEATURES:
        moves[f"change_{feature}"] = moves[f"after_{feature}"] - moves[f"before_{feature}"]
    return moves, len(moved)
