"""A run's forecasts (``store.forecasts``) on the API's rows, exports and customer answer:
the chance of still being an active customer, the expected purchases and spend over the
forecast horizon, and, for an Insider at risk of leaving, the day they would leave and why."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine

from store.forecasts import read_forecasts

FORECAST_FIELDS = ["p_active", "expected_purchases", "expected_spend", "at_risk_on",
                   "at_risk_reason"]
CUSTOMER_FIELDS = [*FORECAST_FIELDS, "qualifies_on", "qualify_reason"]
ROUNDING = {"p_active": 4, "expected_purchases": 4, "expected_spend": 2}
WHOLE_RUN_ABOVE = 2000  # more ids than this: read the run's forecasts at once


def with_forecasts(frame: pd.DataFrame, run_id: int, engine: Engine) -> pd.DataFrame:
    """``frame`` (one row per ``customer_id``) with :data:`FORECAST_FIELDS` added (empty for a
    customer without a forecast, or a run made before forecasts). Order kept, frame unchanged."""
    ids = [int(i) for i in frame["customer_id"].dropna().unique()]
    found = read_forecasts(engine, run_id, None if len(ids) > WHOLE_RUN_ABOVE else ids)
    aligned = found.set_index("customer_id").reindex(frame["customer_id"])
    out = frame.copy()
    for name in FORECAST_FIELDS:
        values = aligned[name]
        if name in ROUNDING:
            out[name] = values.astype(float).round(ROUNDING[name]).to_numpy()
        else:
            out[name] = pd.Series(values.to_numpy(dtype=object, na_value=None),
                                  index=frame.index, dtype=object)
    return out


def customer_forecast(customer_id: int, run_id: int | None, engine: Engine) -> dict:
    """:data:`CUSTOMER_FIELDS` of ``customer_id`` in ``run_id`` (all None when it has none)."""
    empty = dict.fromkeys(CUSTOMER_FIELDS)
    if run_id is None:
        return empty
    found = read_forecasts(engine, run_id, [customer_id])
    if found.empty:
        return empty
    row = found.iloc[0]
    out = {}
    for name in CUSTOMER_FIELDS:
        value = row[name]
        if name in ROUNDING:
            out[name] = None if pd.isna(value) else round(float(value), ROUNDING[name])
        else:
            out[name] = None if value is None or (isinstance(value, float) and pd.isna(value)) \
                else value
    return out
