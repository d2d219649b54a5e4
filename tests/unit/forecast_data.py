"""The seeded synthetic transactions the forecast tests share (cleaned, online-retail profile)."""

from __future__ import annotations

import datetime as dt

from pipeline.clean import CleanResult, clean_transactions, load_profile
from pipeline.ingest import validate_transactions
from pipeline.synthetic import generate_transactions

AS_OF = dt.date(2011, 9, 9)


def synthetic_clean(n_customers: int = 800, seed: int = 5) -> CleanResult:
    rows = validate_transactions(generate_transactions(n_customers, seed=seed)).transactions
    return clean_transactions(rows, load_profile("online-retail"))
