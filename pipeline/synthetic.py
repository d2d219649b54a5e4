"""Deterministic synthetic transactions shaped like the UCI Online Retail export.

The output uses the UCI column names (InvoiceNo, StockCode, Description, Quantity, InvoiceDate,
UnitPrice, CustomerID, Country), so it goes through :mod:`pipeline.ingest` like a user's file.
What makes it realistic:

* skewed value: invoices per customer follow a Lomax (Pareto II) law, basket sizes and unit
  quantities are lognormal per customer, so about a tenth of the customers bring about half of
  the revenue;
* returns: ``C``-prefixed invoices with negative quantities, a few days after the purchase, from
  the customers inclined to return;
* guests: invoices without a CustomerID (a quarter of the rows, many of them single-line);
* non-product lines: POSTAGE (POST, mostly abroad), DOTCOM POSTAGE (DOT, on guest orders),
  Manual (M), CARRIAGE (C2), Discount (D) and SAMPLES (S) on returns, rare bad-debt adjustments
  (B) with a negative price, free lines without a description;
* several countries, the United Kingdom dominant; dates over the period with the original's
  rhythm (no Saturdays, busy autumn, office hours); a catalogue of plausible products with
  lognormal prices and Zipf popularity.

Customers are generated in fixed blocks of :data:`BLOCK_CUSTOMERS`, each with its own seed
derived from ``seed``, so the rows depend only on ``n_customers`` and ``seed``, not on how they
are chunked. Invoice numbers count up through the blocks; rows are in time order within a block.
Customer ids are 12346, 12347, ...; beyond about 6,650 customers they reach the ``online-retail``
profile's guest range, which :mod:`pipeline.clean` then moves above the largest real id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.catalogue import (
    N_PRODUCTS,
    NO_DESCRIPTION,
    SERVICE_ITEM,
    build_catalogue,
    snap_to_packs,
)

UCI_COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
BLOCK_CUSTOMERS = 1000
FIRST_CUSTOMER_ID = 12346
FIRST_INVOICE_NO = 536365

ARROW_SCHEMA = pa.schema(
    [
        ("InvoiceNo", pa.string()),
        ("StockCode", pa.string()),
        ("Description", pa.string()),
        ("Quantity", pa.int64()),
        ("InvoiceDate", pa.timestamp("ns")),
        ("UnitPrice", pa.float64()),
        ("CustomerID", pa.float64()),
        ("Country", pa.string()),
    ]
)

# country, share of customers, chance that an invoice carries a POSTAGE line
COUNTRIES: tuple[tuple[str, float, float], ...] = (
    ("United Kingdom", 0.900, 0.004),
    ("Germany", 0.022, 0.55),
    ("France", 0.020, 0.55),
    ("EIRE", 0.008, 0.02),
    ("Spain", 0.007, 0.45),
    ("Belgium", 0.006, 0.45),
    ("Switzerland", 0.005, 0.45),
    ("Portugal", 0.004, 0.45),
    ("Italy", 0.0035, 0.45),
    ("Finland", 0.003, 0.45),
    ("Norway", 0.0025, 0.45),
    ("Netherlands", 0.0022, 0.3),
    ("Australia", 0.002, 0.2),
    ("Sweden", 0.002, 0.4),
    ("Denmark", 0.002, 0.4),
    ("Japan", 0.0017, 0.2),
    ("Channel Islands", 0.0020, 0.1),
    ("Cyprus", 0.0017, 0.4),
    ("Austria", 0.0020, 0.45),
    ("Poland", 0.0014, 0.45),
    ("USA", 0.0010, 0.2),
    ("Unspecified", 0.0010, 0.1),
    ("European Community", 0.0005, 0.5),
)
_MONTH_WEIGHT = (0.75, 0.7, 0.9, 0.8, 1.0, 0.95, 0.9, 0.85, 1.1, 1.25, 1.6, 1.4)  # Jan..Dec
_WEEKDAY_WEIGHT = (1.0, 1.05, 1.0, 1.1, 0.85, 0.0, 0.7)  # Mon..Sun: the shop shipped no Saturdays
_HOUR_WEIGHT = np.array(
    [0, 0, 0, 0, 0, 0, 1, 4, 90, 340, 490, 580, 790, 720, 670, 780, 550, 290, 80, 37, 9, 0, 0, 0],
    dtype=float,
)
def generate_transactions(
    n_customers: int, *, seed: int = 0, start: str = "2010-12-01", end: str = "2011-12-09"
) -> pd.DataFrame:
    """All rows for ``n_customers`` customers (plus guests) in one DataFrame, UCI columns."""
    chunks = list(iter_transaction_chunks(n_customers, seed=seed, start=start, end=end))
    return pd.concat(chunks, ignore_index=True)


def iter_transaction_chunks(
    n_customers: int,
    *,
    seed: int = 0,
    customers_per_chunk: int = 10_000,
    start: str = "2010-12-01",
    end: str = "2011-12-09",
) -> Iterator[pd.DataFrame]:
    """Yield the rows in chunks of about ``customers_per_chunk`` customers (whole blocks)."""
    if n_customers < 1:
        raise ValueError("n_customers must be at least 1")
    catalogue = build_catalogue(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))))
    calendar = _Calendar(pd.Timestamp(start), pd.Timestamp(end))
    blocks_per_chunk = max(1, round(customers_per_chunk / BLOCK_CUSTOMERS))
    next_invoice = FIRST_INVOICE_NO
    pending: list[pd.DataFrame] = []
    n_blocks = -(-n_customers // BLOCK_CUSTOMERS)
    for block in range(n_blocks):
        size = min(BLOCK_CUSTOMERS, n_customers - block * BLOCK_CUSTOMERS)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, block)))
        first_id = FIRST_CUSTOMER_ID + block * BLOCK_CUSTOMERS
        frame, next_invoice = _block(rng, size, first_id, next_invoice, catalogue, calendar)
        pending.append(frame)
        if len(pending) == blocks_per_chunk or block == n_blocks - 1:
            yield pd.concat(pending, ignore_index=True)
            pending = []


def write_synthetic(
    path: str | Path,
    n_customers: int,
    *,
    seed: int = 0,
    customers_per_chunk: int = 10_000,
    start: str = "2010-12-01",
    end: str = "2011-12-09",
) -> int:
    """Stream the rows to a Parquet file chunk by chunk (bounded memory); return the row count."""
    rows = 0
    with pq.ParquetWriter(str(path), ARROW_SCHEMA, compression="zstd") as writer:
        for chunk in iter_transaction_chunks(
            n_customers, seed=seed, customers_per_chunk=customers_per_chunk, start=start, end=end
        ):
            table = pa.Table.from_pandas(chunk, schema=ARROW_SCHEMA, preserve_index=False)
            writer.write_table(table)
            rows += len(chunk)
    return rows


# ---------------------------------------------------------------- building blocks


class _Calendar:
    """Day weights over the period (season x weekday) and their cumulative distribution."""

    def __init__(self, start: pd.Timestamp, end: pd.Timestamp) -> None:
        if end < start:
            raise ValueError("end must not be before start")
        self.days = pd.date_range(start.normalize(), end.normalize(), freq="D")
        weight = np.array(_MONTH_WEIGHT)[self.days.month - 1] * np.array(_WEEKDAY_WEIGHT)[
            self.days.day_of_week
        ]
        if weight.sum() == 0:
            weight = np.ones(len(self.days))
        self.cdf = np.cumsum(weight) / weight.sum()
        self.day_ns = self.days.to_numpy().astype("datetime64[ns]").astype("int64")
        self.end_ns = int(pd.Timestamp(end).normalize().value + 86_399 * 10**9)

    def draw_days(self, rng: np.random.Generator, low_cdf: np.ndarray) -> np.ndarray:
        """Day indices drawn by weight, each at or after the day whose cdf is ``low_cdf``."""
        u = low_cdf + rng.random(len(low_cdf)) * (1.0 - low_cdf)
        return np.minimum(np.searchsorted(self.cdf, u), len(self.cdf) - 1)

    def timestamps(self, rng: np.random.Generator, day_index: np.ndarray) -> np.ndarray:
        hours = rng.choice(24, size=len(day_index), p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum())
        minutes = rng.integers(0, 60, size=len(day_index))
        offset = (hours * 60 + minutes) * 60 * 10**9
        return self.day_ns[day_index] + offset


def _block(
    rng: np.random.Generator,
    n: int,
    first_id: int,
    next_invoice: int,
    catalogue: dict[str, np.ndarray],
    calendar: _Calendar,
) -> tuple[pd.DataFrame, int]:
    """Rows of one block of customers plus its share of guest invoices, in time order."""
    customers = _customers(rng, n, first_id)
    inv = _customer_invoices(rng, customers, calendar)
    guest = _guest_invoices(rng, n, calendar)
    invoices = {k: np.concatenate([inv[k], guest[k]]) for k in inv}
    lines = _invoice_lines(rng, invoices, customers, catalogue)
    returns_inv, returns_lines = _returns(rng, invoices, lines, customers, calendar)
    invoices = {k: np.concatenate([invoices[k], returns_inv[k]]) for k in invoices}
    lines = {k: np.concatenate([lines[k], returns_lines[k]]) for k in lines}
    return _assemble(invoices, lines, customers, catalogue, next_invoice)


def _customers(rng: np.random.Generator, n: int, first_id: int) -> dict[str, np.ndarray]:
    share = np.array([c[1] for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=n, p=share / share.sum())
    returner = rng.random(n) < 0.4
    return {
        "id": np.arange(first_id, first_id + n, dtype="int64"),
        "country": country,
        "n_invoices": np.minimum(1 + np.floor(rng.pareto(1.6, n) * 1.9), 250).astype("int64"),
        "basket": rng.lognormal(np.log(13.0), 0.6, n),
        "pack": rng.lognormal(np.log(5.0), 0.8, n),
        "return_rate": np.where(returner, rng.beta(1.2, 18.0, n), 0.0),
        # A third were customers before the period began; the rest join during it.
        "join_cdf": np.where(rng.random(n) < 0.35, 0.0, rng.random(n) * 0.95),
    }


def _customer_invoices(
    rng: np.random.Generator, customers: dict[str, np.ndarray], calendar: _Calendar
) -> dict[str, np.ndarray]:
    owner = np.repeat(np.arange(len(customers["id"])), customers["n_invoices"])
    days = calendar.draw_days(rng, customers["join_cdf"][owner])
    return {
        "owner": owner,
        "time": calendar.timestamps(rng, days),
        "country": customers["country"][owner],
        "is_return": np.zeros(len(owner), dtype=bool),
    }


def _guest_invoices(rng: np.random.Generator, n: int, calendar: _Calendar) -> dict[str, np.ndarray]:
    count = rng.poisson(0.8 * n)
    days = calendar.draw_days(rng, np.zeros(count))
    country = np.where(rng.random(count) < 0.97, 0, rng.integers(1, 6, count))
    return {
        "owner": np.full(count, -1, dtype="int64"),
        "time": calendar.timestamps(rng, days),
        "country": country,
        "is_return": np.zeros(count, dtype=bool),
    }


def _invoice_lines(
    rng: np.random.Generator,
    invoices: dict[str, np.ndarray],
    customers: dict[str, np.ndarray],
    catalogue: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    owner = invoices["owner"]
    guest = owner < 0
    known = np.maximum(owner, 0)
    basket = np.where(guest, 55.0, customers["basket"][known])
    n_lines = 1 + np.floor(rng.lognormal(np.log(basket), np.where(guest, 0.9, 0.5)))
    # Over half of the guest "invoices" are one-line stock adjustments (free, negative quantity).
    adjustment = guest & (rng.random(len(owner)) < 0.55)
    n_lines = np.clip(np.where(adjustment, 1, n_lines), 1, 600).astype("int64")
    line_inv = np.repeat(np.arange(len(owner)), n_lines)
    n = len(line_inv)
    product = rng.choice(N_PRODUCTS, size=n, p=catalogue["popularity"])
    pack = np.where(guest, 2.0, customers["pack"][known])[line_inv]
    quantity = snap_to_packs(rng.lognormal(np.log(pack), 0.8)).astype("int64")
    # Guests pay retail prices; trade customers get a discount on large quantities.
    price = catalogue["price"][product] * np.where(guest[line_inv], 1.6, 1.0)
    price = np.round(np.where(quantity >= 24, price * 0.85, price), 2)
    free = guest[line_inv] & (rng.random(n) < 0.01) | adjustment[line_inv]
    product = np.where(free, NO_DESCRIPTION + product, product)
    price = np.where(free, 0.0, price)
    quantity = np.where(adjustment[line_inv], -quantity * rng.integers(1, 20, n), quantity)
    base = {"invoice": line_inv, "item": product, "quantity": quantity, "price": price}
    return _concat_lines(base, _service_lines(rng, invoices, n_lines))


def _service_lines(
    rng: np.random.Generator, invoices: dict[str, np.ndarray], n_lines: np.ndarray
) -> dict[str, np.ndarray]:
    owner, country = invoices["owner"], invoices["country"]
    m = len(owner)
    post_p = np.array([c[2] for c in COUNTRIES])[country]
    eire = np.array([c[0] for c in COUNTRIES])[country] == "EIRE"
    rules = (
        ("POST", (owner >= 0) & (rng.random(m) < post_p), rng.choice([18.0, 28.0, 40.0], m), 1),
        ("DOT", (owner < 0) & (n_lines > 1) & (rng.random(m) < 0.25),
         np.round(rng.lognormal(np.log(185.0), 0.6, m), 2), 1),
        ("M", rng.random(m) < 0.003, np.round(rng.lognormal(np.log(3.0), 1.2, m), 2), 1),
        ("C2", eire & (rng.random(m) < 0.2), np.full(m, 50.0), 1),
        ("PADS", rng.random(m) < 0.0003, np.full(m, 0.001), 1),
        ("B", (owner < 0) & (rng.random(m) < 0.0005),
         -np.round(rng.lognormal(np.log(11000.0), 0.3, m), 2), 1),
    )
    parts = [
        {"invoice": np.flatnonzero(mask), "item": np.full(mask.sum(), SERVICE_ITEM[code]),
         "quantity": np.full(mask.sum(), qty, dtype="int64"), "price": price[mask]}
        for code, mask, price, qty in rules
    ]
    return _concat_lines(*parts)


def _concat_lines(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _returns(
    rng: np.random.Generator,
    invoices: dict[str, np.ndarray],
    lines: dict[str, np.ndarray],
    customers: dict[str, np.ndarray],
    calendar: _Calendar,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Some customers send lines back: one C-invoice per original invoice, days later."""
    owner = invoices["owner"][lines["invoice"]]
    rate = np.where(owner >= 0, customers["return_rate"][np.maximum(owner, 0)], 0.0)
    chosen = np.flatnonzero((rng.random(len(owner)) < rate) & (lines["item"] < N_PRODUCTS))
    original, line_ret_inv = np.unique(lines["invoice"][chosen], return_inverse=True)
    day_ns = 86_400 * 10**9
    time = invoices["time"][original] + rng.integers(0, 30, len(original)) * day_ns
    time = np.where((time // day_ns + 3) % 7 == 5, time + day_ns, time)  # 1970-01-01: Thursday
    time = np.where(time > calendar.end_ns, invoices["time"][original], time)
    ret_invoices = {
        "owner": invoices["owner"][original],
        "time": time,
        "country": invoices["country"][original],
        "is_return": np.ones(len(original), dtype=bool),
    }
    offset = len(invoices["owner"])
    qty = lines["quantity"][chosen]
    returned = -np.maximum(1, np.ceil(qty * rng.random(len(chosen)))).astype("int64")
    ret_lines = {
        "invoice": offset + line_ret_inv,
        "item": lines["item"][chosen],
        "quantity": returned,
        "price": lines["price"][chosen],
    }
    extra = rng.random(len(original))
    discount = {"invoice": offset + np.flatnonzero(extra < 0.03),
                "item": np.full((extra < 0.03).sum(), SERVICE_ITEM["D"]),
                "quantity": np.full((extra < 0.03).sum(), -1, dtype="int64"),
                "price": np.round(rng.lognormal(np.log(20.0), 0.8, (extra < 0.03).sum()), 2)}
    samples = (extra >= 0.03) & (extra < 0.04)
    sample = {"invoice": offset + np.flatnonzero(samples),
              "item": np.full(samples.sum(), SERVICE_ITEM["S"]),
              "quantity": np.full(samples.sum(), -1, dtype="int64"),
              "price": np.round(rng.lognormal(np.log(30.0), 0.8, samples.sum()), 2)}
    return ret_invoices, _concat_lines(ret_lines, discount, sample)


def _assemble(
    invoices: dict[str, np.ndarray],
    lines: dict[str, np.ndarray],
    customers: dict[str, np.ndarray],
    catalogue: dict[str, np.ndarray],
    next_invoice: int,
) -> tuple[pd.DataFrame, int]:
    n_inv = len(invoices["owner"])
    order = np.lexsort((np.arange(n_inv), invoices["time"]))
    rank = np.empty(n_inv, dtype="int64")
    rank[order] = np.arange(n_inv)
    numbers = pd.Series(next_invoice + rank).astype("str").to_numpy(dtype=object)
    invoice_no = np.where(invoices["is_return"], "C" + numbers, numbers)
    row_order = np.lexsort((np.arange(len(lines["invoice"])), rank[lines["invoice"]]))
    inv = lines["invoice"][row_order]
    item = lines["item"][row_order]
    owner = invoices["owner"][inv]
    customer_id = np.where(owner >= 0, customers["id"][np.maximum(owner, 0)], np.nan)
    country_names = np.array([c[0] for c in COUNTRIES], dtype=object)
    frame = pd.DataFrame(
        {
            "InvoiceNo": pd.array(invoice_no[inv], dtype="str"),
            "StockCode": pd.array(catalogue["code"][item], dtype="str"),
            "Description": pd.array(catalogue["description"][item], dtype="str"),
            "Quantity": lines["quantity"][row_order].astype("int64"),
            "InvoiceDate": invoices["time"][inv].astype("datetime64[ns]"),
            "UnitPrice": lines["price"][row_order].astype("float64"),
            "CustomerID": customer_id.astype("float64"),
            "Country": pd.array(country_names[invoices["country"][inv]], dtype="str"),
        }
    )
    return frame, next_invoice + n_inv
