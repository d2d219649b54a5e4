"""Small seeded customer-features frames and thresholds for pipeline tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS
from pipeline.conditions import make_thresholds

THRESHOLDS = make_thresholds(
    {"gross_revenue": 2000.0, "invoice_quantity": 4, "recency_days": 60},
    {"gross_revenue": 1400.0, "invoice_quantity": 2, "recency_days": 120},
)


def make_features(n_customers: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """Skewed spend with a small group of heavy buyers, like customer_features() output."""
    rng = np.random.default_rng(seed)
    heavy = rng.random(n_customers) < 0.08
    invoices = rng.poisson(np.where(heavy, 25, 3)) + 1
    lines = invoices * rng.integers(1, 12, n_customers)
    items = lines * rng.integers(1, 20, n_customers)
    revenue = np.round(items * rng.lognormal(np.where(heavy, 1.2, 0.4), 0.5), 2)
    recency = np.where(heavy, rng.integers(0, 30, n_customers), rng.integers(0, 370, n_customers))
    frame = pd.DataFrame(
        {
            "gross_revenue": revenue,
            "recency_days": recency.astype("int64"),
            "invoice_quantity": invoices.astype("int64"),
            "items_quantity": items.astype("int64"),
            "products_quantity": lines.astype("int64"),
            "avg_ticket": np.round(revenue / lines, 4),
        },
        index=pd.Index(np.arange(12000, 12000 + n_customers, dtype="int64"), name="customer_id"),
    )
    return frame.loc[:, list(FEATURE_COLUMNS)]


def customers(rows: dict[int, tuple[float, int, int]]) -> pd.DataFrame:
    """Features from {customer_id: (gross_revenue, invoice_quantity, recency_days)}."""
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["gross_revenue", "invoice_quantity", "recency_days"]
    )
    frame["items_quantity"] = frame["invoice_quantity"] * 10
    frame["products_quantity"] = frame["invoice_quantity"] * 3
    frame["avg_ticket"] = frame["gross_revenue"] / frame["products_quantity"]
    frame.index = frame.index.astype("int64").rename("customer_id")
    return frame.loc[:, list(FEATURE_COLUMNS)]


def population(n: int, seed: int) -> pd.DataFrame:
    """A skewed customer base: few big, frequent, recent buyers and many small ones."""
    rng = np.random.default_rng(seed)
    invoices = 1 + rng.poisson(rng.gamma(0.5, 6.0, n))
    revenue = invoices * rng.lognormal(5.5, 1.0, n)
    recency = rng.integers(0, 365, n) // np.maximum(1, invoices // 3)
    return customers({10_000 + i: (revenue[i], invoices[i], recency[i]) for i in range(n)})


def revenue_bands(features: pd.DataFrame, k: int = 5) -> np.ndarray:
    """Cluster labels by revenue quantile band (k-1 is the top band)."""
    ranks = features["gross_revenue"].rank(method="first", pct=True).to_numpy()
    return np.minimum((ranks * k).astype(int), k - 1)
