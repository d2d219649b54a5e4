"""A customer's contact details, when the contacts part of the store is there."""

from __future__ import annotations

from sqlalchemy import Engine


def contact(customer_id: int, engine: Engine) -> dict | None:
    """Contact details of ``customer_id``, or None (no contacts imported, or none for them)."""
    return None
