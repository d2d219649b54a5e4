"""Contact details matching a synthetic transactions file: one row per customer id.

The real data set has no contact details; the demo imports these so the customer page,
the API and webhooks have emails, names and consents to show. Seeded: the same transactions
and seed give the same contacts. About 60% of customers agree to marketing messages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jon",
               "Kasia", "Liam", "Mei", "Nils", "Olga", "Pedro", "Rosa", "Sven", "Tariq", "Zoe")
LAST_NAMES = ("Ahmed", "Berg", "Costa", "Dubois", "Evans", "Fischer", "García", "Hughes",
              "Ito", "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "O'Brien", "Rossi")
CONSENT_SHARE = 0.6
CONTACT_COLUMNS = ("Customer ID", "Email", "Name", "Country", "Marketing Consent")


def contacts_for(transactions: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """A contacts table for the customers of ``transactions`` (UCI columns), in id order."""
    known = transactions.dropna(subset=["CustomerID"])
    first = known.groupby(known["CustomerID"].astype("int64"))["Country"].first().sort_index()
    rng = np.random.default_rng(seed)
    n = len(first)
    first_names = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)]
    last_names = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    ids = first.index.to_numpy()
    emails = [f"{f.lower()}.{ln.lower().replace(chr(39), '')}.{i}@example.com"
              for f, ln, i in zip(first_names, last_names, ids, strict=True)]
    return pd.DataFrame({
        "Customer ID": ids,
        "Email": [e.encode("ascii", "ignore").decode() for e in emails],
        "Name": [f"{f} {ln}" for f, ln in zip(first_names, last_names, strict=True)],
        "Country": first.to_numpy(),
        "Marketing Consent": np.where(rng.random(n) < CONSENT_SHARE, "yes", "no"),
    })


def write_contacts(transactions_path: str | Path, out: str | Path, *, seed: int = 0) -> int:
    """Write the contacts of a synthetic transactions file (CSV or Parquet); returns the rows."""
    transactions_path = Path(transactions_path)
    columns = ["CustomerID", "Country"]
    if transactions_path.suffix == ".parquet":
        transactions = pd.read_parquet(transactions_path, columns=columns)
    else:
        transactions = pd.read_csv(transactions_path, usecols=columns)
    contacts = contacts_for(transactions, seed=seed)
    contacts.to_csv(out, index=False)
    return len(contacts)
