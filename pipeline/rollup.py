"""A per-customer daily rollup of cleaned transactions, from which the features as of any date
are sums, counts, minima and maxima (see :mod:`pipeline.features` for the features).

One row per customer and invoice day holding the customer's cleaned lines of that day:

``lines``            every cleaned line (so the latest day counts returns and zero quantities too)
``purchase_lines``   lines with ``quantity > 0``
``invoices``         distinct purchase invoices whose first purchase line (for this customer) is
                     on this day, so that summing days up to a date counts each invoice once
``items``            units bought
``revenue_micro``    value bought, in whole millionths of the currency unit
``return_invoices``  distinct return invoices whose first return line is on this day
``returned_items``   units returned (positive)
``returns_micro``    value returned, in millionths (positive)

The first and last purchase are the least and greatest day with ``purchase_lines > 0``. Money is
kept in millionths as :mod:`pipeline.features` sums it, so the sums are exact; a line whose value
is not a whole number of millionths (a price with more than six decimals) is rounded to one.

Guests get their ids from the cleaning profile, in order of first appearance over every stored
row (:mod:`pipeline.clean`). Cleaning one batch alone gives the same ids when it is told where
its guests start: :func:`guest_layout` says that from each batch's :class:`GuestStats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.clean import CleaningProfile, dropped_rows
from pipeline.features import _MICRO

ROLLUP_COLUMNS: tuple[str, ...] = (
    "lines", "purchase_lines", "invoices", "items", "revenue_micro",
    "return_invoices", "returned_items", "returns_micro",
)


@dataclass(frozen=True)
class GuestStats:
    """What guest numbering needs of one batch's stored rows (before any cleaning)."""

    batch_id: int
    guest_invoices: int  # distinct invoices among rows without a customer id
    max_customer_id: int | None  # largest customer id
    min_id_from_start: int | None  # least customer id at or above the profile's guest start


@dataclass(frozen=True)
class GuestLayout:
    """Where guests start over all batches, and each batch's first guest id."""

    start: int | None
    first_id: dict[int, int]
    total: int


def guest_stats(
    batch_id: int, frame: pd.DataFrame, guest_id_start: int | None
) -> GuestStats:
    """:class:`GuestStats` of ``frame`` (stored rows of batch ``batch_id``)."""
    customer = frame["customer_id"]
    guests = customer.isna().to_numpy()
    known = customer[~guests].to_numpy(dtype="int64")
    from_start = known[known >= guest_id_start] if guest_id_start is not None else known[:0]
    return GuestStats(
        batch_id=batch_id,
        guest_invoices=int(frame["invoice_no"][guests].nunique()),
        max_customer_id=int(known.max()) if len(known) else None,
        min_id_from_start=int(from_start.min()) if len(from_start) else None,
    )


def summed_stats(first: GuestStats, second: GuestStats) -> GuestStats:
    """The stats of two pieces of one batch; ``guest_invoices`` added (an invoice in both
    pieces is counted twice: the caller counts distinct invoices when it matters)."""

    def pick(a: int | None, b: int | None, choose) -> int | None:
        return b if a is None else a if b is None else choose(a, b)

    return GuestStats(
        batch_id=first.batch_id,
        guest_invoices=first.guest_invoices + second.guest_invoices,
        max_customer_id=pick(first.max_customer_id, second.max_customer_id, max),
        min_id_from_start=pick(first.min_id_from_start, second.min_id_from_start, min),
    )


def guest_layout(guest_id_start: int | None, batches: list[GuestStats]) -> GuestLayout:
    """The guest ids :func:`pipeline.clean.clean_transactions` gives the rows of ``batches``
    (in batch order) cleaned together: where they start and each batch's first one."""
    ordered = sorted(batches, key=lambda stats: stats.batch_id)
    total = sum(stats.guest_invoices for stats in ordered)
    if guest_id_start is None:
        return GuestLayout(start=None, first_id={}, total=total)
    start = guest_id_start
    lowest = [s.min_id_from_start for s in ordered if s.min_id_from_start is not None]
    if total and lowest and min(lowest) < guest_id_start + total:
        # a real id in the guest range: guests start above the largest real id
        start = max(s.max_customer_id for s in ordered if s.max_customer_id is not None) + 1
    first_id, offset = {}, 0
    for stats in ordered:
        first_id[stats.batch_id] = start + offset
        offset += stats.guest_invoices
    return GuestLayout(start=start, first_id=first_id, total=total)


def daily_rollup(clean: pd.DataFrame) -> pd.DataFrame:
    """The rollup rows of cleaned transactions: columns ``customer_id``, ``day`` (days since
    1970-01-01) and :data:`ROLLUP_COLUMNS`, sorted by customer and day."""
    customer = clean["customer_id"].to_numpy(dtype="int64")
    day = _days(clean)
    quantity = clean["quantity"].to_numpy(dtype="int64")
    purchase, ret = quantity > 0, quantity < 0
    lines = _line_values({"customer_id": customer, "day": day}, clean)
    out = lines.groupby(["customer_id", "day"], sort=True).sum()
    invoice = pd.factorize(clean["invoice_no"])[0]
    out["invoices"] = _first_days(customer, invoice, day, purchase).reindex(out.index)
    out["return_invoices"] = _first_days(customer, invoice, day, ret).reindex(out.index)
    out = out.fillna(0).astype("int64").reset_index()
    return out.loc[:, ["customer_id", "day", *ROLLUP_COLUMNS]]


def _days(frame: pd.DataFrame) -> np.ndarray:
    return frame["invoice_date"].to_numpy().astype("datetime64[D]").astype("int64")


def _line_values(keys: dict[str, np.ndarray], clean: pd.DataFrame) -> pd.DataFrame:
    """Per cleaned line, ``keys`` and the summed columns of :data:`ROLLUP_COLUMNS` but the
    invoice counts."""
    quantity = clean["quantity"].to_numpy(dtype="int64")
    # as pipeline.features computes a line's value and rounds it to millionths
    micro = np.rint(quantity * clean["unit_price"].to_numpy(dtype="float64") * _MICRO)
    micro = micro.astype("int64")
    purchase, ret = quantity > 0, quantity < 0
    zero = np.zeros_like(quantity)
    return pd.DataFrame(
        {
            **keys,
            "lines": np.ones_like(quantity),
            "purchase_lines": purchase.astype("int64"),
            "items": np.where(purchase, quantity, zero),
            "revenue_micro": np.where(purchase, micro, zero),
            "returned_items": np.where(ret, -quantity, zero),
            "returns_micro": np.where(ret, -micro, zero),
        }
    )


def _first_days(
    customer: np.ndarray, invoice: np.ndarray, day: np.ndarray, mask: np.ndarray
) -> pd.Series:
    """Per (customer, day): how many of the customer's invoices (lines in ``mask``) start then."""
    pairs = pd.DataFrame({"customer_id": customer[mask], "invoice": invoice[mask],
                          "day": day[mask]})
    first = pairs.groupby(["customer_id", "invoice"], sort=False)["day"].min().reset_index()
    return first.groupby(["customer_id", "day"]).size()


PURCHASE, RETURN = 1, 2
"""``kind`` of :attr:`PartialRollup.firsts`: an invoice's purchase lines, its return lines."""


@dataclass(frozen=True)
class PartialRollup:
    """One piece of a batch's rows, rolled up as far as it can be without the other pieces.

    Guests are keyed by invoice (``customer_id`` missing, ``guest_invoice`` set): their ids
    depend on every guest invoice of the batch, in order of first line (``guests``). The
    invoice counts depend on each invoice's first day over the batch: ``firsts`` holds its
    first day in this piece. Summing ``days`` over the pieces, taking the least day of each
    invoice in ``firsts`` and numbering ``guests`` by their first line gives
    :func:`daily_rollup` of the whole batch (``store.rollup_merge`` does it in the database).
    """

    days: pd.DataFrame  # customer_id, guest_invoice, day, the sums but invoice counts
    firsts: pd.DataFrame  # customer_id, invoice_no, kind, day
    guests: pd.DataFrame  # invoice_no, first_line (every guest row, before cleaning)

    @classmethod
    def guests_only(cls, rows: pd.DataFrame) -> PartialRollup:
        """The piece's guests alone (the rollup has no profile to clean with)."""
        none = pd.DataFrame()
        return cls(days=none, firsts=none, guests=guest_first_lines(rows))


def partial_rollup(rows: pd.DataFrame, profile: CleaningProfile) -> PartialRollup:
    """:class:`PartialRollup` of ``rows`` (stored rows: line_no + canonical columns)."""
    if "line_no" in rows.columns and not rows["line_no"].is_monotonic_increasing:
        rows = rows.sort_values("line_no", kind="stable")
    rows = rows.reset_index(drop=True)
    kept = rows.loc[~dropped_rows(rows, profile)]
    guest = kept["customer_id"].isna().to_numpy()
    invoice, numbers = pd.factorize(kept["invoice_no"])
    # a guest is keyed by its invoice: customer 0 and invoice code (-1 for a known customer)
    customer = kept["customer_id"].fillna(0).to_numpy(dtype="int64")
    key = np.where(guest, invoice, -1)
    day = _days(kept)
    lines = _line_values({"customer": customer, "guest": key, "day": day}, kept)
    days = lines.groupby(["customer", "guest", "day"], sort=False).sum().reset_index()
    quantity = kept["quantity"].to_numpy(dtype="int64")
    firsts = []
    for kind, mask in ((PURCHASE, quantity > 0), (RETURN, quantity < 0)):
        pairs = pd.DataFrame({"customer": customer[mask], "guest": key[mask],
                              "invoice": invoice[mask], "day": day[mask]})
        first = pairs.groupby(["customer", "guest", "invoice"], sort=False)["day"].min()
        firsts.append(first.reset_index().assign(kind=kind))
    first = pd.concat(firsts, ignore_index=True)
    return PartialRollup(
        days=_with_keys(days, numbers).drop(columns="invoice_no"),
        firsts=_with_keys(first, numbers).loc[:, ["customer_id", "invoice_no", "kind", "day"]],
        guests=guest_first_lines(rows),
    )


def guest_first_lines(rows: pd.DataFrame) -> pd.DataFrame:
    """Each guest invoice of ``rows`` (no customer id, before cleaning) and its first line."""
    seen = rows.loc[rows["customer_id"].isna().to_numpy(), ["invoice_no", "line_no"]]
    first = seen.groupby("invoice_no", sort=False)["line_no"].min()
    return first.rename("first_line").reset_index()


def _with_keys(frame: pd.DataFrame, numbers: pd.Index) -> pd.DataFrame:
    """``customer``/``guest`` (and ``invoice``) codes back to ``customer_id`` (missing for a
    guest), ``guest_invoice`` and ``invoice_no``."""
    guest = frame["guest"].to_numpy() >= 0
    customer = pd.array(frame["customer"].to_numpy(), dtype="Int64")
    customer[guest] = pd.NA
    text = np.asarray(numbers, dtype=object)
    codes = frame["invoice"].to_numpy() if "invoice" in frame else frame["guest"].to_numpy()
    invoice_no = pd.Series(text[codes] if len(text) else codes.astype(object), dtype="str")
    guest_invoice = invoice_no.where(guest)
    out = frame.drop(columns=[c for c in ("customer", "guest", "invoice") if c in frame])
    return out.assign(customer_id=customer, guest_invoice=guest_invoice, invoice_no=invoice_no)
