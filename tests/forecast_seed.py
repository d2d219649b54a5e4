"""Forecasts for a run of the dashboard seed (tests/dashboard_seed.py), written through
store.forecasts as the worker writes them: every customer gets p_active and the expected
purchases and spend; some Insiders are at risk (one only for a low chance of being active) and
some others about to qualify, each with a reason."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select, update

from store.forecasts import write_forecasts
from store.schema import CustomerLabel, Run

AT_RISK_DAYS, HORIZON_DAYS = 30, 90


def seed_forecasts(engine: Engine, run_id: int, *, n_at_risk: int = 5, n_qualify: int = 4,
                   seed: int = 3) -> pd.DataFrame:
    """Write run ``run_id``'s forecasts and its looking-ahead metrics; returns the frame."""
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        as_of = conn.execute(select(Run.as_of).where(Run.id == run_id)).scalar_one()
        labels = conn.execute(select(CustomerLabel.customer_id, CustomerLabel.is_insiders)
                              .where(CustomerLabel.run_id == run_id)
                              .order_by(CustomerLabel.customer_id)).all()
        ids = np.array([r[0] for r in labels], dtype="int64")
        insiders = np.array([bool(r[1]) for r in labels])
        purchases = rng.uniform(0.2, 6.0, len(ids)).round(3)
        frame = pd.DataFrame({
            "customer_id": ids, "p_active": rng.uniform(0.6, 1.0, len(ids)).round(3),
            "expected_purchases": purchases,
            "expected_spend": (purchases * rng.uniform(50, 400, len(ids))).round(2),
            "at_risk_on": None, "at_risk_reason": None, "qualifies_on": None,
            "qualify_reason": None,
        })
        frame = frame.astype({c: object for c in ("at_risk_on", "at_risk_reason",
                                                  "qualifies_on", "qualify_reason")})
        for k, i in enumerate(np.flatnonzero(insiders)[:n_at_risk]):
            if k == n_at_risk - 1:  # at risk only because they are unlikely to be active
                frame.loc[i, "p_active"] = 0.31
                frame.loc[i, "at_risk_reason"] = ("The chance they are still an active "
                                                  "customer is 31%, below 50%.")
                continue
            leave = as_of + timedelta(days=3 + 6 * k)
            frame.loc[i, "at_risk_on"] = leave
            frame.loc[i, "at_risk_reason"] = (
                f"Last bought 85 days ago: with no purchase before {leave.isoformat()} they "
                "leave on that day, when it will be more than 90 days since their last "
                "purchase.")
        for i in np.flatnonzero(~insiders)[:n_qualify]:
            frame.loc[i, "qualifies_on"] = as_of + timedelta(days=AT_RISK_DAYS)
            frame.loc[i, "qualify_reason"] = (
                f"Expected to buy about {purchases[i]:.1f} times in the next {AT_RISK_DAYS} "
                "days, enough to join (at least 3,000 spent, a purchase in the last 40 days).")
        write_forecasts(conn, run_id, frame)
        metrics = conn.execute(select(Run.metrics).where(Run.id == run_id)).scalar_one() or {}
        conn.execute(update(Run).where(Run.id == run_id).values(metrics={
            **metrics, "forecast": {"horizon_days": HORIZON_DAYS, "at_risk_days": AT_RISK_DAYS,
                                    "n_at_risk": n_at_risk, "n_about_to_qualify": n_qualify}}))
    return frame
