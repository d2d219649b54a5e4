"""The dashboard's reads of a run's forecasts (``store.forecasts``): Insiders at risk, customers
about to qualify, one customer's forecast, and their CSV files.

Beside ``dashboard/data.py`` (which is at its size limit) and like it: every function takes an
optional engine (default: the app's), run ids must be checked with ``data.succeeded_id`` first,
and per-run answers are remembered (a succeeded run never changes).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dashboard.cache import per_run
from dashboard.config import app_engine
from pipeline.exports import to_csv
from store import forecasts, insiders_file, run_files, runs

AT_RISK_CSV_COLUMNS = ("customer_id", "leaves_on", "days_left", "expected_spend", "p_active",
                       "reason")
QUALIFY_CSV_COLUMNS = ("customer_id", "qualifies_on", "expected_purchases", "expected_spend",
                       "reason")


def forecast_info(run_id: int, engine: Engine | None = None) -> dict:
    """The run's looking-ahead settings and counts (``horizon_days``, ``at_risk_days``, ...),
    ``{"error": reason}`` when its forecast could not be made, ``{}`` for a run without one."""
    info, _count = forecasts.forecast_metrics(app_engine(engine), int(run_id))
    return dict(info) if isinstance(info, dict) else {}


def has_forecasts(run_id: int, engine: Engine | None = None) -> bool:
    info = forecast_info(run_id, engine)
    return bool(info) and "error" not in info


@per_run(app_engine)
def at_risk(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The run's Insiders at risk, highest expected spend first, with ``days_left`` (from the
    run's as-of date to the day they would leave; empty without such a day)."""
    frame = forecasts.at_risk(engine, run_id)
    as_of = _as_of(run_id, engine)
    frame["days_left"] = pd.array([None if on is None or as_of is None else (on - as_of).days
                                   for on in frame["at_risk_on"]], dtype="Int64")
    return frame


@per_run(app_engine)
def about_to_qualify(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The run's customers about to qualify, highest expected spend first."""
    return forecasts.about_to_qualify(engine, run_id)


def at_risk_count(run_id: int, engine: Engine | None = None) -> int | None:
    """How many Insiders the run lists at risk; None when the run has no forecasts."""
    summary = at_risk_summary(run_id, engine)
    return None if summary is None else summary[0]


def at_risk_summary(run_id: int, engine: Engine | None = None) -> tuple[int, int] | None:
    """(how many Insiders the run lists at risk, within how many days), counted without
    reading the list; None when the run has no forecasts."""
    info, count = forecasts.forecast_metrics(app_engine(engine), int(run_id), count_at_risk=True)
    if not isinstance(info, dict) or not info or "error" in info:
        return None
    return count, int(info.get("at_risk_days", 30))


def customer_forecast(run_id: int, customer_id: int, engine: Engine | None = None
                      ) -> dict | None:
    """One customer's forecast in the run (p_active, expected purchases and spend, the at-risk
    and about-to-qualify dates and reasons), or None."""
    frame = forecasts.read_forecasts(app_engine(engine), int(run_id), [int(customer_id)])
    if frame.empty:
        return None
    row = frame.iloc[0].to_dict()
    return {key: (None if value is None or (isinstance(value, float) and value != value)
                  else value) for key, value in row.items()}


def at_risk_table(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The at-risk list for other tools: :data:`AT_RISK_CSV_COLUMNS`, numbers as numbers."""
    frame = at_risk(run_id, engine=engine)
    table = pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "leaves_on": frame["at_risk_on"],
        "days_left": frame["days_left"],
        "expected_spend": frame["expected_spend"].astype(float),
        "p_active": frame["p_active"].astype(float),
        "reason": frame["at_risk_reason"],
    })
    return table.loc[:, list(AT_RISK_CSV_COLUMNS)]


def about_to_qualify_table(run_id: int, engine: Engine | None = None) -> pd.DataFrame:
    """The about-to-qualify list for other tools: :data:`QUALIFY_CSV_COLUMNS`."""
    frame = about_to_qualify(run_id, engine=engine)
    table = pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "qualifies_on": frame["qualifies_on"],
        "expected_purchases": frame["expected_purchases"].astype(float),
        "expected_spend": frame["expected_spend"].astype(float),
        "reason": frame["qualify_reason"],
    })
    return table.loc[:, list(QUALIFY_CSV_COLUMNS)]


def forecast_csv(run_id: int, kind: str, engine: Engine | None = None) -> tuple[str, str]:
    """(file name, CSV text) of the run's ``kind`` list, "at-risk" or "about-to-qualify"; the
    name carries the run and its as-of date."""
    build = at_risk_table if kind == "at-risk" else about_to_qualify_table
    as_of = _as_of(run_id, engine)
    filename = f"insiders-{kind}-run-{int(run_id)}-as-of-{as_of.isoformat() if as_of else ''}.csv"
    return filename, to_csv(build(run_id, engine=engine))


def insiders_csv(run_id: int, engine: Engine | None = None) -> str:
    """The run's Insiders CSV: the file written when the run was published, or else built now
    (a run published before such files, or whose worker stopped before writing it)."""
    engine = app_engine(engine)
    stored = run_files.read_file(engine, int(run_id), run_files.INSIDERS_CSV)
    return stored if stored is not None else insiders_file.insiders_csv(engine, int(run_id))


def _as_of(run_id: int, engine: Engine | None) -> date | None:
    with Session(app_engine(engine)) as session:
        run = runs.get_run(session, int(run_id))
        return None if run is None else run.as_of
