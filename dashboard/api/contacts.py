"""Customers' contact details (``store.contacts``) on the API's rows and in exports.

Contact details are imported at any time, so they are never kept with a run's cached table:
they are read for the rows a page or an export actually holds, and their ``stamp`` goes into
the ETag so a re-import changes it.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import BigInteger, Engine, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from store.contacts import CustomerContact, get_contact

CONTACT_COLUMNS = ["email", "name", "country", "marketing_consent"]
CHUNK = 500  # ids per statement: SQLite caps the number of bound values


def contact(customer_id: int, engine: Engine) -> dict | None:
    """Email, name, country and marketing consent of ``customer_id``, or None (none imported)."""
    with engine.connect() as connection:
        row = get_contact(connection, customer_id)
    return None if row is None else {name: row[name] for name in CONTACT_COLUMNS}


def _read(ids: list[int], engine: Engine) -> pd.DataFrame:
    columns = [CustomerContact.customer_id,
               *[getattr(CustomerContact, name) for name in CONTACT_COLUMNS]]
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # one array parameter, however many ids
            wanted = bindparam("ids", ids, type_=ARRAY(BigInteger))
            rows = connection.execute(
                select(*columns).where(CustomerContact.customer_id == any_(wanted))).all()
        else:
            rows = [row for start in range(0, len(ids), CHUNK) for row in connection.execute(
                select(*columns).where(CustomerContact.customer_id.in_(ids[start:start + CHUNK])))]
    return pd.DataFrame(rows, columns=["customer_id", *CONTACT_COLUMNS])


def with_contacts(frame: pd.DataFrame, engine: Engine) -> pd.DataFrame:
    """``frame`` (one row per ``customer_id``) with the contact columns last, null where a
    customer has no contact details. Row order is kept; ``frame`` is not changed."""
    ids = [int(i) for i in frame["customer_id"].dropna().unique()]
    aligned = _read(ids, engine).set_index("customer_id").reindex(frame["customer_id"])
    out = frame.copy()
    for name in CONTACT_COLUMNS:
        values = aligned[name].to_numpy(dtype=object, na_value=None)
        out[name] = pd.Series(values, index=frame.index, dtype=object)
    return out


def stamp(engine: Engine) -> str:
    """Changes whenever contacts are imported: their count and latest update."""
    with engine.connect() as connection:
        count, latest = connection.execute(
            select(func.count(), func.max(CustomerContact.updated_at))).one()
    return f"{count}:{latest}"
