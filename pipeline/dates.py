"""Parse invoice dates written in the formats retailers' exports use.

Dates are parsed with explicit formats; the format family that parses most values wins and ties
go to the earlier family, so ``12/1/2010`` is read month-first as in the UCI ``data.csv`` export
unless a value such as ``13/1/2010`` proves the file day-first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Date formats grouped by family; inside a family later formats fill what earlier ones missed.
DATE_FORMAT_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("ISO8601",),
    ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%m/%d/%y %H:%M", "%m/%d/%y"),
    ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d/%m/%y %H:%M", "%d/%m/%y"),
    ("%d-%b-%y", "%d-%b-%Y", "%d-%b-%y %H:%M", "%d-%b-%Y %H:%M", "%d %b %Y", "%d %b %Y %H:%M"),
    ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%y"),
)
_DATE_SAMPLE = 2_000


def parse_dates(series: pd.Series, date_format: str | None = None) -> tuple[pd.Series, str | None]:
    """Parse a date column; return naive datetime64[ns] (NaT where unparseable) and the format."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert(None)
        return series.astype("datetime64[ns]"), None
    text = series.astype("str").str.strip()
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype="str")
    if date_format is not None:
        family: tuple[str, ...] = (date_format,)
    else:
        family = _best_family(uniques)
    parsed = _parse_with(uniques, family)
    values = parsed.to_numpy()
    out = np.where(codes >= 0, values[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
    return pd.Series(out, index=series.index, dtype="datetime64[ns]"), family[0]


def _best_family(uniques: pd.Series) -> tuple[str, ...]:
    if len(uniques) > _DATE_SAMPLE:
        step = len(uniques) / _DATE_SAMPLE
        uniques = uniques.iloc[(np.arange(_DATE_SAMPLE) * step).astype(int)]
    scores = [int(_parse_with(uniques, fam).notna().sum()) for fam in DATE_FORMAT_FAMILIES]
    return DATE_FORMAT_FAMILIES[int(np.argmax(scores))]  # argmax: first family wins a tie


def _parse_with(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = result.isna() & text.notna()
        if not todo.any():
            break
        # utc=True: mixed UTC offsets become one naive UTC time; naive text stays as written.
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=True)
        result[todo] = parsed.dt.tz_convert(None).astype("datetime64[ns]")
    return result
