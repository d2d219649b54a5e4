"""Customer contact details from a file: read, map columns, validate, reject with reasons.

A contacts file (CSV, .xlsx or Parquet, read by :mod:`pipeline.readers`) holds a customer id,
an email, a name, a country and a marketing consent per row. Columns are found by name or
alias, or named with a mapping ``{"E-Mail": "email"}``. A row with a missing or malformed
customer id, a malformed email or a consent value that is neither yes nor no is rejected with
its reason; when a customer id appears twice the last row wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import IngestError
from pipeline.readers import read_table

CONTACT_COLUMNS = ("customer_id", "email", "name", "country", "marketing_consent")
# normalised header (lower case, letters and digits only) -> canonical column
ALIASES = {
    "customer_id": ("customerid", "customer", "id", "clientid", "customerno"),
    "email": ("email", "emailaddress", "mail"),
    "name": ("name", "fullname", "customername", "contactname"),
    "country": ("country", "countryname"),
    "marketing_consent": ("marketingconsent", "consent", "optin", "marketingoptin",
                          "newsletter"),
}
CONSENT_YES = {"yes", "y", "true", "t", "1", "optin", "optedin", "granted", "consent"}
CONSENT_NO = {"no", "n", "false", "f", "0", "optout", "optedout", "denied", "none", ""}
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$")
MAX_LENGTHS = {"email": 254, "name": 200, "country": 100}

REASON_MISSING_ID = "missing customer id"
REASON_BAD_ID = "customer id is not a whole number"
REASON_BAD_EMAIL = "email is not a valid address"
REASON_BAD_CONSENT = "marketing consent is neither yes nor no"
REASON_TOO_LONG = "a value is too long"
REASON_DUPLICATE = "customer id appears again further down (the later row is kept)"


@dataclass
class ContactsFile:
    """Validated contacts (one row per customer id) and the rejected rows with reasons."""

    contacts: pd.DataFrame
    rejects: pd.DataFrame
    column_mapping: dict[str, str] = field(default_factory=dict)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rejects["reason"].value_counts().items()}


def _normalise(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def resolve_contact_columns(
    columns: list[object], column_map: dict[str, str] | None, source: str
) -> dict[object, str]:
    """{source column: canonical column}; IngestError naming a missing id column."""
    by_name = {str(c): c for c in columns}
    mapping: dict[object, str] = {}
    for src, target in (column_map or {}).items():
        if target not in CONTACT_COLUMNS:
            raise IngestError(f"{source}: column mapping targets unknown column {target!r} "
                              f"(known: {', '.join(CONTACT_COLUMNS)})")
        if str(src) not in by_name:
            raise IngestError(f"{source}: column mapping names {src!r}, which is not in the file")
        mapping[by_name[str(src)]] = target
    for canonical, aliases in ALIASES.items():
        if canonical in mapping.values():
            continue
        found = [c for c in columns if c not in mapping and _normalise(c) in
                 (_normalise(canonical), *aliases)]
        if len(found) > 1:
            raise IngestError(f"{source}: columns {', '.join(map(repr, found))} all look like "
                              f"{canonical}; choose one with a column mapping")
        if found:
            mapping[found[0]] = canonical
    if "customer_id" not in mapping.values():
        shown = ", ".join(repr(str(c)) for c in columns[:12])
        raise IngestError(f"{source}: no customer id column (found: {shown}); "
                          "name it with a column mapping")
    return mapping


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("").str.strip()


def validate_contacts(
    raw: pd.DataFrame, column_map: dict[str, str] | None = None, source: str = "contacts"
) -> ContactsFile:
    """Map and check ``raw``'s rows; returns the accepted contacts and the rejects."""
    mapping = resolve_contact_columns(list(raw.columns), column_map, source)
    frame = raw[list(mapping)].rename(columns=mapping).reset_index(drop=True)
    for column in CONTACT_COLUMNS:
        frame[column] = _text(frame[column]) if column in frame else ""
    ids = frame["customer_id"].str.removesuffix(".0")
    consent_key = frame["marketing_consent"].map(_normalise)
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    checks = (
        (ids == "", REASON_MISSING_ID),
        (~ids.str.fullmatch(r"\d{1,18}"), REASON_BAD_ID),
        ((frame["email"] != "") & ~frame["email"].str.fullmatch(EMAIL.pattern), REASON_BAD_EMAIL),
        (~consent_key.isin(CONSENT_YES | CONSENT_NO), REASON_BAD_CONSENT),
        (_too_long(frame), REASON_TOO_LONG),
    )
    for failed, why in checks:
        reason = reason.mask(reason.isna() & failed.fillna(True).astype(bool), why)
    good = frame[reason.isna()].copy()
    good["customer_id"] = ids[reason.isna()].astype("int64")
    duplicate = good["customer_id"].duplicated(keep="last")
    reason.loc[good.index[duplicate]] = REASON_DUPLICATE
    good = good[~duplicate]
    good["marketing_consent"] = consent_key[good.index].isin(CONSENT_YES)
    good["email"] = good["email"].str.lower()
    for column in ("email", "name", "country"):
        text = good[column].astype(object)
        good[column] = text.where(text != "", None)
    rejected = reason.notna()
    rejects = pd.DataFrame({
        "row": (frame.index[rejected] + 2).astype("int64"),  # line 1 is the header
        "customer_id": frame.loc[rejected, "customer_id"].astype(object),
        "reason": reason[rejected].astype(object),
    })
    return ContactsFile(
        contacts=good.loc[:, list(CONTACT_COLUMNS)].reset_index(drop=True),
        rejects=rejects.reset_index(drop=True),
        column_mapping={str(k): v for k, v in mapping.items()},
    )


def _too_long(frame: pd.DataFrame) -> pd.Series:
    long = pd.Series(False, index=frame.index)
    for column, limit in MAX_LENGTHS.items():
        long |= frame[column].str.len() > limit
    return long


def read_contacts(
    path: str | Path, column_map: dict[str, str] | None = None, encoding: str | None = None
) -> ContactsFile:
    """Read and validate a contacts file (CSV, .xlsx or Parquet)."""
    path = Path(path)
    raw, _encoding = read_table(path, encoding)
    return validate_contacts(raw, column_map, source=str(path))


def parse_column_map(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["email=E-Mail", ...]`` (canonical=source) -> ``{"E-Mail": "email"}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, src = pair.partition("=")
        if not sep or not target.strip() or not src.strip():
            raise IngestError(f"column mapping {pair!r} must look like email=E-Mail")
        mapping[src.strip()] = target.strip()
    return mapping
