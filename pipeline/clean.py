"""Cleaning profiles: which transactions count, written as data so users can write their own.

A profile has six fields:

``name``
    how runs and reports refer to it.
``guest_id_start``
    rows without a customer id (guest checkouts) get one synthetic id per invoice,
    ``guest_id_start``, ``guest_id_start + 1``, ... in order of the invoice's first appearance in
    the file, over all rows before any filtering (rows are ordered by ``line_no`` first). If real
    customer ids fall in the guest range, guest ids start just above the largest real id instead,
    so a guest is never merged into a real customer. ``None`` drops guest rows
    (reason ``missing_customer_id``).
``excluded_stock_codes``, ``excluded_countries``, ``excluded_customers``
    rows with these values are dropped (exact, case-sensitive match).
``min_unit_price``
    rows with ``unit_price < min_unit_price`` are dropped; negative prices are counted under their
    own reason (``negative_price``). ``None`` keeps every price.

Every dropped row is counted once, under the first reason that applies, in this order:
``missing_customer_id``, ``negative_price``, ``unit_price_below_min``, ``excluded_stock_code``,
``excluded_country``, ``excluded_customer``. Purchases are rows with ``quantity > 0`` and returns
rows with ``quantity < 0`` (see :mod:`pipeline.features`); cleaning keeps both.

Built-in profiles (:data:`PROFILES`):

``online-retail``
    the original analysis of the UCI Online Retail data, reproduced exactly: guests get ids
    from 19000; stock codes POST, D, DOT, M, S, AMAZONFEE, m, DCGSSBOY, DCGSSGIRL, PADS, B, CRUK
    (postage, discounts, manual entries, fees and other non-products) and the countries
    "European Community" and "Unspecified" are dropped, as are prices below 0.04 and customer
    16446 (two huge orders cancelled at once).
``default``
    for data we know nothing about: guest rows are dropped (an anonymous invoice is not a
    customer who can be targeted), prices below 0.01 (free and negative lines: adjustments, not
    sales) are dropped, and no stock code, country or customer is excluded.

A profile file is JSON or YAML with the same keys; ``extends`` names a built-in profile to start
from, for example::

    extends: online-retail
    name: my-shop
    excluded_countries: [Unspecified]
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pipeline.columns import CANONICAL_COLUMNS
from pipeline.errors import PipelineInputError, ProfileError


@dataclass(frozen=True)
class CleaningProfile:
    """Which transactions count; see the module docstring for each field."""

    name: str
    guest_id_start: int | None = None
    excluded_stock_codes: frozenset[str] = frozenset()
    excluded_countries: frozenset[str] = frozenset()
    min_unit_price: float | None = None
    excluded_customers: frozenset[int] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, loadable again with :func:`profile_from_dict`."""
        return {
            "name": self.name,
            "guest_id_start": self.guest_id_start,
            "excluded_stock_codes": sorted(self.excluded_stock_codes),
            "excluded_countries": sorted(self.excluded_countries),
            "min_unit_price": self.min_unit_price,
            "excluded_customers": sorted(self.excluded_customers),
        }


PROFILES: dict[str, CleaningProfile] = {
    "online-retail": CleaningProfile(
        name="online-retail",
        guest_id_start=19000,
        excluded_stock_codes=frozenset(
            {"POST", "D", "DOT", "M", "S", "AMAZONFEE", "m", "DCGSSBOY", "DCGSSGIRL", "PADS",
             "B", "CRUK"}
        ),
        excluded_countries=frozenset({"European Community", "Unspecified"}),
        min_unit_price=0.04,
        excluded_customers=frozenset({16446}),
    ),
    "default": CleaningProfile(name="default", guest_id_start=None, min_unit_price=0.01),
}


def load_profile(name_or_path: str | Path) -> CleaningProfile:
    """A built-in profile by name, or one read from a JSON/YAML file; raise ProfileError."""
    key = str(name_or_path)
    if key in PROFILES:
        return PROFILES[key]
    path = Path(key)
    if not path.is_file():
        raise ProfileError(
            f"unknown cleaning profile {key!r}: not a built-in profile "
            f"({', '.join(sorted(PROFILES))}) and no such file"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: not a readable profile file ({exc})") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile file must hold a mapping of fields")
    data.setdefault("name", path.stem)
    return profile_from_dict(data, source=str(path))


def profile_from_dict(data: dict[str, Any], *, source: str = "<profile>") -> CleaningProfile:
    """Build a profile from plain data (the keys of :class:`CleaningProfile`, plus ``extends``)."""
    data = dict(data)
    base_name = data.pop("extends", None)
    if base_name is not None and base_name not in PROFILES:
        raise ProfileError(f"{source}: extends unknown profile {base_name!r}")
    fields = {f.name for f in dataclasses.fields(CleaningProfile)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ProfileError(f"{source}: unknown profile field(s): {', '.join(unknown)}")
    values = PROFILES[base_name].to_dict() if base_name else {}
    values.update(data)
    if "name" not in values:
        raise ProfileError(f"{source}: a profile needs a name")
    try:
        return CleaningProfile(
            name=str(values["name"]),
            guest_id_start=_optional(values.get("guest_id_start"), int),
            excluded_stock_codes=_set_of(values.get("excluded_stock_codes"), str),
            excluded_countries=_set_of(values.get("excluded_countries"), str),
            min_unit_price=_optional(values.get("min_unit_price"), float),
            excluded_customers=_set_of(values.get("excluded_customers"), int),
        )
    except (TypeError, ValueError) as exc:
        raise ProfileError(f"{source}: invalid profile value ({exc})") from exc


def _optional(value: Any, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {value!r}")
    return kind(value)


def _set_of(values: Iterable[Any] | None, kind: type) -> frozenset:
    if values is None:
        return frozenset()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"expected a list, got {values!r}")
    return frozenset(kind(v) for v in values)


@dataclass
class CleanResult:
    """Cleaned transactions (canonical columns, customer_id int64) and dropped rows by reason."""

    transactions: pd.DataFrame
    dropped_by_reason: dict[str, int]
    guest_id_range: tuple[int, int] | None = None

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped_by_reason.values())


def clean_transactions(transactions: pd.DataFrame, profile: CleaningProfile) -> CleanResult:
    """Apply a cleaning profile to ingested transactions (see the module docstring)."""
    missing = [c for c in CANONICAL_COLUMNS if c not in transactions.columns]
    if missing:
        raise PipelineInputError(f"transactions lack column(s): {', '.join(missing)}")
    frame = transactions
    if "line_no" in frame.columns and not frame["line_no"].is_monotonic_increasing:
        frame = frame.sort_values("line_no", kind="stable")
    frame = frame.loc[:, list(CANONICAL_COLUMNS)].reset_index(drop=True)
    customer, guest_range = _fill_guest_ids(frame, profile.guest_id_start)
    frame["customer_id"] = customer
    reasons = _drop_masks(frame, profile)
    dropped = np.zeros(len(frame), dtype=bool)
    counts: dict[str, int] = {}
    for reason, mask in reasons.items():
        new = mask & ~dropped
        counts[reason] = int(new.sum())
        dropped |= new
    kept = frame.loc[~dropped].reset_index(drop=True)
    kept["customer_id"] = kept["customer_id"].astype("int64")
    return CleanResult(transactions=kept, dropped_by_reason=counts, guest_id_range=guest_range)


def _fill_guest_ids(
    frame: pd.DataFrame, start: int | None
) -> tuple[pd.Series, tuple[int, int] | None]:
    customer = frame["customer_id"].astype("Int64")
    guests = customer.isna().to_numpy()
    if start is None or not guests.any():
        return customer, None
    # factorize numbers invoices in order of first appearance, as the original's drop_duplicates.
    codes, uniques = pd.factorize(frame["invoice_no"][guests])
    known = customer[~guests].to_numpy(dtype="int64")
    if ((known >= start) & (known < start + len(uniques))).any():
        start = int(known.max()) + 1
    filled = customer.copy()
    filled[guests] = start + codes
    return filled, (start, start + len(uniques) - 1)


def dropped_rows(frame: pd.DataFrame, profile: CleaningProfile) -> np.ndarray:
    """The rows of ``frame`` that ``profile`` drops, whatever the reason, by position.

    Rows without a customer id are dropped when the profile gives guests no id, and are never
    an excluded customer here (their ids are not known yet: see :mod:`pipeline.rollup`).
    """
    dropped = np.zeros(len(frame), dtype=bool)
    for mask in _drop_masks(frame, profile).values():
        dropped |= mask
    return dropped


def _drop_masks(frame: pd.DataFrame, profile: CleaningProfile) -> dict[str, np.ndarray]:
    price = frame["unit_price"].to_numpy()
    masks: dict[str, np.ndarray] = {}
    if profile.guest_id_start is None:
        masks["missing_customer_id"] = frame["customer_id"].isna().to_numpy()
    if profile.min_unit_price is not None:
        below = price < profile.min_unit_price
        masks["negative_price"] = below & (price < 0)
        masks["unit_price_below_min"] = below & (price >= 0)
    masks["excluded_stock_code"] = frame["stock_code"].isin(profile.excluded_stock_codes).to_numpy()
    masks["excluded_country"] = frame["country"].isin(profile.excluded_countries).to_numpy()
    masks["excluded_customer"] = (
        frame["customer_id"].isin(profile.excluded_customers).fillna(False).to_numpy(dtype=bool)
    )
    return masks
