"""Customer contact details: one row per customer id, replaced by each import that names it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import BigInteger, Boolean, Connection, DateTime, String, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from store.runs import utcnow
from store.schema import Base

CHUNK = 500  # rows per statement: SQLite caps the number of bound values


class CustomerContact(Base):
    """How to reach a customer, and whether they agreed to marketing messages."""

    __tablename__ = "customer_contacts"

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    country: Mapped[str | None] = mapped_column(String(100), nullable=True)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int


def upsert_contacts(connection: Connection, contacts: pd.DataFrame) -> ImportCounts:
    """Insert new customer ids and replace the details of known ones."""
    if contacts.empty:
        return ImportCounts(0, 0)
    ids = [int(i) for i in contacts["customer_id"]]
    known = 0
    for start in range(0, len(ids), CHUNK):
        known += connection.execute(
            select(func.count()).where(
                CustomerContact.customer_id.in_(ids[start:start + CHUNK])
            )
        ).scalar_one()
    now = utcnow()
    rows = [
        {
            "customer_id": int(row["customer_id"]),
            "email": row["email"],
            "name": row["name"],
            "country": row["country"],
            "marketing_consent": bool(row["marketing_consent"]),
            "updated_at": now,
        }
        for row in contacts.to_dict(orient="records")
    ]
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), CHUNK):
        statement = insert(CustomerContact.__table__).values(rows[start:start + CHUNK])
        connection.execute(statement.on_conflict_do_update(
            index_elements=["customer_id"],
            set_={name: statement.excluded[name] for name in
                  ("email", "name", "country", "marketing_consent", "updated_at")},
        ))
    return ImportCounts(added=len(ids) - known, updated=known)


def get_contact(connection: Connection, customer_id: int) -> dict | None:
    """The contact details of ``customer_id``, or None when none were imported."""
    row = connection.execute(
        select(CustomerContact.__table__).where(CustomerContact.customer_id == int(customer_id))
    ).mappings().first()
    return dict(row) if row else None


def search_contacts(connection: Connection, text: str, limit: int = 20) -> list[dict]:
    """Contacts whose email or name contains ``text`` (any case), exact email first."""
    needle = text.strip().lower()
    if not needle:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    email, name = func.lower(CustomerContact.email), func.lower(CustomerContact.name)
    rows = connection.execute(
        select(CustomerContact.__table__)
        .where(or_(email.like(pattern, escape="\\"), name.like(pattern, escape="\\")))
        .order_by((email == needle).desc(), CustomerContact.customer_id)
        .limit(limit)
    ).mappings().all()
    return [dict(row) for row in rows]


def count_contacts(connection: Connection) -> tuple[int, int]:
    """(contacts, contacts with marketing consent)."""
    total, consenting = connection.execute(
        select(func.count(), func.count().filter(CustomerContact.marketing_consent))
    ).one()
    return int(total), int(consenting or 0)
