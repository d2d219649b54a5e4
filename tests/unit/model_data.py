"""A small seeded customer-features frame for model, report and CLI tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS


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
