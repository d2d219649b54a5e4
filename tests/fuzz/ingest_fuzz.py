"""Ingest fuzzer (issue 9): random small CSV, Parquet and .xlsx files through ``insiders ingest``.

    python tests/fuzz/ingest_fuzz.py [--files 6000] [--seed 0] [--database-url URL]

Each file has 0 to 30 rows of random values: known header spellings (sometimes a column
missing or an extra one), dates in several formats with out-of-range placeholders and blank
columns, extreme and non-numeric numbers, long and odd text (quotes, delimiters, NUL), and, for
text files, other delimiters, a BOM, latin-1, UTF-16, stray bytes and stray quotes. Invoice
numbers come from a window that moves slowly, so a file overlaps the ones before it. Every file
goes through the store's ``ingest_file`` (PostgreSQL COPY with ``--database-url``; by default a
temporary SQLite file).

Prints the files by kind, how many were refused with the project's own one-line error
(IngestError), the crashes (any other exception: must be 0, each type with an example), the
rows read, accepted, rejected and already loaded, and the row-accounting violations (must be 0):
for every loaded file rows read = accepted + rejected + already loaded = the rows written, and
the store holds exactly the accepted rows of each batch. Writes nothing outside a temporary
directory (and the given database, which it empties first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from migrations import downgrade, upgrade  # noqa: E402
from pipeline.errors import IngestError  # noqa: E402
from store.schema import Transaction  # noqa: E402
from store.transactions import ingest_file  # noqa: E402

HEADERS = (
    ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
     "CustomerID", "Country"],
    ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID",
     "Country"],
    ["invoice_no", "stock_code", "description", "quantity", "invoice_date", "unit_price",
     "customer_id", "country"],
)
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%d-%b-%y",
                "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z")
PLACEHOLDER_DATES = ("12/31/9999", "9999-12-31", "01/01/0001", "1000-01-01", "00/00/0000", "",
                     "N/A", "2011-02-30")
NUMBERS = ("1e308", "-1e308", "inf", "-inf", "nan", "NaN", "", " ", "2,55", "1.000,5", "0x1F",
           "1_000", "12abc", str(2**31), str(-(2**31) - 1), str(2**63), str(2**64), "1e-320",
           "100000.01", "1000001", "-0", "3.0", "2.5")
WORDS = ("WHITE HEART", "CAFÉ", "£5", 'SAY "HI"', "A,B", "A;B", "TAB\tIN", "back\\slash",
         "NUL\x00", "\\N", "NULL", "nan", "   ", "Ω≈ç√", "🙂", "x" * 301, "Y" * 33, "Z" * 101)


def random_text(rng: np.random.Generator) -> str:
    kind = rng.integers(0, 6)
    if kind == 0:
        return str(rng.choice(WORDS))
    if kind == 1:
        return "".join(chr(int(c)) for c in rng.integers(32, 0x2FF, rng.integers(0, 12)))
    if kind == 2:
        return "".join(str(rng.choice(WORDS)) for _ in range(rng.integers(1, 4)))
    return f"ITEM {rng.integers(0, 1000)}"  # kinds 3 to 5: plain text


def random_number(rng: np.random.Generator, integer: bool) -> str:
    roll = rng.random()
    if roll < 0.1:
        return str(rng.choice(NUMBERS))
    if roll < 0.12:
        return random_text(rng)
    if integer:
        return str(int(rng.integers(-50, 500)))
    return f"{rng.lognormal(1, 2) * rng.choice([1, -1]):.{rng.integers(0, 4)}f}"


def random_date(rng: np.random.Generator, fmt: str) -> str:
    roll = rng.random()
    if roll < 0.05:
        return str(rng.choice(PLACEHOLDER_DATES))
    if roll < 0.06:
        return random_text(rng)
    stamp = pd.Timestamp("2009-01-01") + pd.Timedelta(minutes=int(rng.integers(0, 2_000_000)))
    text = stamp.strftime(fmt.replace("%z", ""))
    return text + "+01:00" if fmt.endswith("%z") else text


def random_invoice(rng: np.random.Generator, index: int) -> str:
    """From a window that moves with the file index: a file overlaps the files just before it."""
    number = 536365 + 5 * index + int(rng.integers(0, 60))
    return f"C{number}" if rng.random() < 0.1 else str(number)


def random_table(rng: np.random.Generator, index: int) -> pd.DataFrame:
    n = int(rng.integers(0, 31))
    fmt = str(rng.choice(DATE_FORMATS))
    header = list(HEADERS[rng.integers(0, len(HEADERS))])
    blank_dates = rng.random() < 0.05
    rows = []
    for _ in range(n):
        rows.append([
            random_invoice(rng, index) if rng.random() < 0.95 else random_text(rng),
            str(rng.integers(10000, 99999)) if rng.random() < 0.8 else random_text(rng),
            random_text(rng),
            random_number(rng, integer=True),
            "" if blank_dates else random_date(rng, fmt),
            random_number(rng, integer=False),
            str(rng.integers(12346, 18287)) if rng.random() < 0.8 else random_number(rng, True),
            random_text(rng) if rng.random() < 0.3 else "United Kingdom",
        ])
    table = pd.DataFrame(rows, columns=header, dtype="str")
    if rng.random() < 0.03:
        table = table.drop(columns=str(rng.choice(header)))
    if rng.random() < 0.05:
        table["Notes"] = "extra"
    return table


def write_text_file(rng: np.random.Generator, table: pd.DataFrame, path: Path) -> bool:
    """Write ``table`` as CSV with random quirks; True when a broken quote was injected."""
    sep = str(rng.choice([",", ",", ",", ";", "\t", "|"]))

    def field(value: str) -> str:
        if any(c in value for c in (sep, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [sep.join(field(str(v)) for v in row) for row in [list(table.columns),
                                                              *table.to_numpy().tolist()]]
    broken = len(lines) > 1 and rng.random() < 0.05
    if broken:
        at = int(rng.integers(1, len(lines)))
        lines[at] = '"' + lines[at]
    text = "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")
    encoding = str(rng.choice(["utf-8", "utf-8", "utf-8", "latin-1", "utf-8-sig", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if rng.random() < 0.05 and len(data) > 10:
        at = int(rng.integers(len(data) // 2, len(data)))
        data = data[:at] + bytes([int(rng.integers(0x80, 0x100))]) + data[at:]
    path.write_bytes(data)
    return broken


def write_file(rng: np.random.Generator, table: pd.DataFrame, folder: Path, index: int):
    kind = str(rng.choice(["csv", "csv", "csv", "parquet", "xlsx"]))
    path = folder / f"f{index}.{kind}"
    if kind == "parquet":
        if rng.random() < 0.3 and table.columns[4:5].tolist() in (["InvoiceDate"],
                                                                  ["invoice_date"]):
            column = table.columns[4]
            table[column] = pd.to_datetime(table[column], errors="coerce", format="mixed", utc=True)
        table.to_parquet(path)
    elif kind == "xlsx":
        # spreadsheets cannot hold control characters
        table.replace(r"[\x00-\x08\x0b-\x1f]", "", regex=True).to_excel(path, index=False)
    else:
        write_text_file(rng, table, path)
    return kind, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL to load into (emptied first); default SQLite")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'fuzz.db'}"
        if args.database_url:
            downgrade(url, "base")
        upgrade(url)
        engine = create_engine(url)
        run(engine, rng, folder, args.files, url)
        engine.dispose()


def run(engine, rng: np.random.Generator, folder: Path, n_files: int, url: str) -> None:
    kinds: Counter = Counter()
    outcomes: Counter = Counter()
    crashes: Counter = Counter()
    examples: dict[str, str] = {}
    rows: Counter = Counter()
    violations: list[str] = []
    started = time.perf_counter()
    for index in range(n_files):
        table = random_table(rng, index)
        kind, path = write_file(rng, table, folder, index)
        kinds[kind] += 1
        try:
            outcome = ingest_file(engine, path, profile="default")
        except IngestError:
            outcomes["refused (IngestError, one line)"] += 1
            continue
        except Exception as exc:  # the fuzzer's purpose: anything else is a crash
            name = type(exc).__name__
            crashes[name] += 1
            examples.setdefault(name, f"{path.name}: {traceback.format_exc(limit=-3)}")
            continue
        outcomes["loaded" if outcome.created else "same content, nothing added"] += 1
        rows.update(read=outcome.n_rows, accepted=outcome.n_accepted,
                    rejected=outcome.n_rejected, already_loaded=outcome.n_already_loaded)
        accounted = outcome.n_accepted + outcome.n_rejected + outcome.n_already_loaded
        with engine.connect() as connection:
            stored = connection.execute(
                select(func.count()).where(Transaction.batch_id == outcome.batch_id)
            ).scalar_one()
        if outcome.n_rows != accounted or outcome.n_rows != len(table) or (
            outcome.created and stored != outcome.n_accepted
        ):
            violations.append(f"{path.name}: written {len(table)}, read {outcome.n_rows}, "
                              f"accounted {accounted}, stored {stored}")
    elapsed = time.perf_counter() - started
    report(n_files, url, kinds, outcomes, crashes, examples, rows, violations, elapsed)


def report(n_files, url, kinds, outcomes, crashes, examples, rows, violations, elapsed) -> None:
    store = "PostgreSQL (COPY)" if url.startswith("postgresql") else "SQLite"
    print(f"ingest fuzz: {n_files} files into {store} in {elapsed:.0f} s")
    print("files by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for name, count in sorted(outcomes.items()):
        print(f"  {name}: {count}")
    print(f"crashes that are not IngestError: {sum(crashes.values())}")
    for name, count in crashes.most_common():
        print(f"  {name}: {count}\n    e.g. {examples[name].strip().splitlines()[-1]}")
    print(f"rows read {rows['read']}: accepted {rows['accepted']}, rejected {rows['rejected']}, "
          f"already loaded {rows['already_loaded']}")
    print(f"row-accounting violations: {len(violations)}")
    for line in violations[:10]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
