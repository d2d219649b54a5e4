"""Parse invoice dates written in the formats retailers' exports use.

Dates are parsed with explicit formats; the format family that parses most values wins and ties
go to the earlier family, so ``12/1/2010`` is read month-first as in the UCI ``data.csv`` export
unless a value such as ``13/1/2010`` proves the file day-first.
"""

from __future__ import annotations

import re

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
_SEPARATOR = re.compile(r"(?<=%[a-zA-Z])[^%]")

EARLIEST = pd.Timestamp.min.ceil("s")
LATEST = pd.Timestamp.max.floor("s")
"""The dates datetime64[ns] holds (1677-09-21 to 2262-04-11); others are out of range."""
_EARLIEST_US = EARLIEST.to_datetime64().astype("datetime64[us]")
_LATEST_US = LATEST.to_datetime64().astype("datetime64[us]")


def format_family(date_format: str) -> tuple[str, ...]:
    """The family :func:`parse_dates` reported as ``date_format`` (its first format), so that
    the rest of a file is read as its first part was; a format of no family alone."""
    for family in DATE_FORMAT_FAMILIES:
        if family[0] == date_format:
            return family
    return (date_format,)


def parse_dates(
    series: pd.Series, date_format: str | tuple[str, ...] | None = None
) -> tuple[pd.Series, str | None, pd.Series]:
    """Parse a date column into naive datetime64[ns] (NaT where unparseable or out of range);
    ``date_format``, a format or a family of them (:func:`format_family`), is not guessed.

    Returns the dates, the format used for text dates, and a mask of the dates that were read but
    fall outside what datetime64[ns] holds (:data:`EARLIEST`..:data:`LATEST`), such as the
    ``12/31/9999`` placeholder some exports write for "no date".
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert(None)
        if series.dtype == "datetime64[ns]":
            return series, None, pd.Series(False, index=series.index)
        dates, out_of_range = _within_range(series.astype("datetime64[us]").to_numpy())
        return pd.Series(dates, index=series.index), None, pd.Series(out_of_range, series.index)
    text = series.astype("str").str.strip()
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype="str")
    if date_format is not None:
        family = (date_format,) if isinstance(date_format, str) else date_format
    else:
        family = _best_family(uniques)
    parsed = _parse_with(uniques, family).to_numpy()
    # code -1 (a missing value) picks the NaT appended at the end
    values = np.append(parsed, np.datetime64("NaT", "us"))[codes]
    dates, out_of_range = _within_range(values)
    return pd.Series(dates, index=series.index), family[0], pd.Series(out_of_range, series.index)


def _within_range(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (datetime64[us]) as datetime64[ns], NaT outside the range; and that mask."""
    out_of_range = ~np.isnat(values) & ((values < _EARLIEST_US) | (values > _LATEST_US))
    values = np.where(out_of_range, np.datetime64("NaT", "us"), values)
    return values.astype("datetime64[ns]"), out_of_range


def _best_family(uniques: pd.Series) -> tuple[str, ...]:
    if len(uniques) > _DATE_SAMPLE:
        step = len(uniques) / _DATE_SAMPLE
        uniques = uniques.iloc[(np.arange(_DATE_SAMPLE) * step).astype(int)]
    scores = []
    for family in DATE_FORMAT_FAMILIES:
        scores.append(int(_parse_with(uniques, family).notna().sum()))
        if scores[-1] == len(uniques):  # parses every value: a later family could only tie
            break
    return DATE_FORMAT_FAMILIES[int(np.argmax(scores))]  # argmax: first family wins a tie


def _parse_with(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    # microseconds, not nanoseconds: years 1 to 9999 parse, the range is checked afterwards
    values = text.to_numpy(dtype=object)
    result = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    present = text.notna().to_numpy()
    for fmt in formats:
        todo = present & np.isnat(result)
        separator = _SEPARATOR.search(fmt)
        if separator is not None and todo.any():
            # a value without the format's first separator cannot match; a space in a format
            # matches any run of whitespace, as in strptime
            literal = r"\s" if separator.group().isspace() else re.escape(separator.group())
            todo &= text.str.contains(literal, regex=True, na=False).to_numpy()
        if not todo.any():
            continue
        # utc=True: mixed UTC offsets become one naive UTC time; naive text stays as written.
        parsed = pd.to_datetime(values[todo], format=fmt, errors="coerce", utc=True)
        result[todo] = parsed.tz_convert(None).to_numpy().astype("datetime64[us]")
    return pd.Series(result, index=text.index)
