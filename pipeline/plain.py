"""Plain JSON values from numpy, pandas and float results (NaN and infinity become None)."""

from __future__ import annotations

import math
from datetime import date, datetime
from numbers import Real

import numpy as np
import pandas as pd


def plain_value(value: object) -> object:
    """``value`` with numpy scalars and arrays, pandas objects, dates and timestamps turned into
    plain JSON types, recursively; NaN, infinity and missing values become None."""
    if isinstance(value, dict):
        return {str(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain_value(item) for item in value]
    if isinstance(value, pd.DataFrame):
        return plain_value(value.to_dict(orient="records"))
    if isinstance(value, pd.Series | np.ndarray):
        return plain_value(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite_or_none(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def finite_or_none(value: object) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, NaN or infinite."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
