"""A run's Insiders CSV, made once when the run is published and stored as one of its files.

The worker writes it right after publishing the run (:func:`write_insiders_csv`); the Report
page's download reads it and builds it only for a run that has none (runs published before
this, or a worker stopped between the two transactions).
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from pipeline.columns import FEATURE_COLUMNS
from pipeline.exports import insiders_table, to_csv
from pipeline.identity import display_name
from store import forecasts, run_files
from store.run_files import INSIDERS_CSV
from store.schema import Cluster, Run


def insiders_csv(engine: Engine, run_id: int) -> str:
    """The Insiders CSV of run ``run_id``, built from the store: the run's Insiders, their
    cluster names and features, and their forecasts when the run has forecasts."""
    frame = forecasts.insiders_forecasts(engine, int(run_id), ["cluster", *FEATURE_COLUMNS])
    ahead = frame.loc[:, list(forecasts.FORECAST_COLUMNS)]
    found = ahead[list(forecasts.NUMBER_COLUMNS)].notna().to_numpy().any()
    labels = frame.drop(columns=list(forecasts.FORECAST_COLUMNS[1:]))
    if not found:
        info, _count = forecasts.forecast_metrics(engine, int(run_id))
        found = isinstance(info, dict) and bool(info) and "error" not in info
    as_of, names = _run_facts(engine, int(run_id))
    return to_csv(insiders_table(labels, as_of=as_of, run_id=int(run_id), cluster_names=names,
                                 forecasts=ahead if found else None))


def write_insiders_csv(engine: Engine, run_id: int) -> int:
    """Build and store run ``run_id``'s Insiders CSV; returns the bytes stored."""
    return run_files.write_file(engine, run_id, INSIDERS_CSV, insiders_csv(engine, run_id))


def _run_facts(engine: Engine, run_id: int) -> tuple[str | None, dict[int, str]]:
    with engine.connect() as connection:
        as_of = connection.execute(select(Run.as_of).where(Run.id == run_id)).scalar()
        rows = connection.execute(
            select(Cluster.cluster, Cluster.name).where(Cluster.run_id == run_id)).all()
    names = {int(c): display_name(n) for c, n in rows if display_name(n)}
    return (None if as_of is None else as_of.isoformat()), names
