"""Column names shared by every pipeline stage."""

from __future__ import annotations

CANONICAL_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)

FEATURE_COLUMNS: tuple[str, ...] = (
    "gross_revenue",
    "recency_days",
    "invoice_quantity",
    "items_quantity",
    "products_quantity",
    "avg_ticket",
)
