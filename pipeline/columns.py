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

RULE_FEATURES: tuple[str, ...] = ("gross_revenue", "invoice_quantity", "recency_days")
"""The features the Insiders entry and exit thresholds compare."""

INTEGER_FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "invoice_quantity",
    "items_quantity",
    "products_quantity",
)
"""Feature columns that are whole numbers (days and counts), stored as integers."""

INTEGER_RULE_FEATURES: frozenset[str] = frozenset(RULE_FEATURES).intersection(
    INTEGER_FEATURE_COLUMNS
)
"""Threshold features whose levels are whole numbers (rounded, and printed without decimals)."""

FEATURE_LABELS: dict[str, str] = {
    "gross_revenue": "Gross revenue",
    "recency_days": "Recency (days)",
    "invoice_quantity": "Invoices",
    "items_quantity": "Items",
    "products_quantity": "Products",
    "avg_ticket": "Mean ticket",
}
"""The one label of each feature, used by the charts, the pages and the report."""

MONEY_FEATURES: frozenset[str] = frozenset({"gross_revenue", "avg_ticket"})
"""Feature columns that are amounts of money (shown with the currency, exported to 2 decimals)."""
