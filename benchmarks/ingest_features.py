"""Ingest + clean + features: rows per second and peak memory, against the original notebook.

    python benchmarks/ingest_features.py [--customers 110000] [--seed 0] [--repeats 3]
                                         [--skip-large]

Two data sets: the real Online Retail data (INSIDERS_REAL_DATA) and a synthetic set about twenty
times larger (``--customers`` customers, about 11M rows), generated into a temporary directory and
deleted afterwards. Two methods on each, in the same run:

* ``insiders``: ``read_transactions`` -> ``clean_transactions(online-retail)`` ->
  ``customer_features``;
* ``notebook``: the original notebook's pandas steps (guest ids by a merge, filters, one groupby
  and one merge per feature, ``dropna``), re-implemented plainly.

Every measurement runs in a fresh process, so its peak resident memory (ru_maxrss) is its own;
the resident memory after imports is shown too. Imports are not timed (nor pandera's lazy
imports on its first validation, which a one-row warm-up triggers). Both methods must agree on
every customer's six features; the script says so. Prints figures and the machine; writes
nothing else.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.columns import FEATURE_COLUMNS  # noqa: E402
from settings import load_settings  # noqa: E402

NOTEBOOK_COLUMNS = ["invoice_no", "stock_code", "description", "quantity", "invoice_date",
                    "unit_price", "customer_id", "country"]
NOT_PRODUCTS = ["POST", "D", "DOT", "M", "S", "AMAZONFEE", "m", "DCGSSBOY", "DCGSSGIRL", "PADS",
                "B", "CRUK"]


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    mem = "unknown memory"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), model)
        with open("/proc/meminfo") as handle:
            mem = f"{int(handle.readline().split()[1]) / 2**20:.1f} GiB RAM"
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {model}, {os.cpu_count()} cores, {mem}, "
            f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {np.__version__}")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------- the two methods


def run_insiders(path: str) -> tuple[dict[str, float], pd.DataFrame, int]:
    from pipeline.clean import clean_transactions, load_profile
    from pipeline.features import customer_features
    from pipeline.ingest import read_transactions

    seconds: dict[str, float] = {}
    t = time.perf_counter()
    ingested = read_transactions(path)
    seconds["ingest"] = time.perf_counter() - t
    t = time.perf_counter()
    cleaned = clean_transactions(ingested.transactions, load_profile("online-retail"))
    seconds["clean"] = time.perf_counter() - t
    t = time.perf_counter()
    features = customer_features(cleaned.transactions)
    seconds["features"] = time.perf_counter() - t
    return seconds, features, ingested.n_rows


def run_notebook(path: str) -> tuple[dict[str, float], pd.DataFrame, int]:
    """The original notebook's steps, as a notebook writes them."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    df1 = pd.read_parquet(path)
    df1.columns = NOTEBOOK_COLUMNS
    n_rows = len(df1)
    seconds["ingest"] = time.perf_counter() - t

    t = time.perf_counter()
    df_missing = df1.loc[df1["customer_id"].isna(), :]
    df_backup = pd.DataFrame(df_missing["invoice_no"].drop_duplicates())
    # 19000 as the original; above the largest real id where that would collide (the synthetic
    # set has more than 6,654 customers), as insiders does, so the two can be compared.
    start = 19000 if df1["customer_id"].max() < 19000 else int(df1["customer_id"].max()) + 1
    df_backup["customer_id"] = np.arange(start, start + len(df_backup), 1)
    df1 = pd.merge(df1, df_backup, on="invoice_no", how="left")
    df1["customer_id"] = df1["customer_id_x"].combine_first(df1["customer_id_y"])
    df1 = df1.drop(columns=["customer_id_x", "customer_id_y"])
    df1["invoice_date"] = df1["invoice_date"].dt.normalize()  # the notebook's file had days only
    df1["customer_id"] = df1["customer_id"].astype(int)
    df2 = df1.copy()
    df2 = df2.loc[df2["unit_price"] >= 0.04, :]
    df2 = df2[~df2["stock_code"].isin(NOT_PRODUCTS)]
    df2 = df2.drop(columns="description")
    df2 = df2[~df2["country"].isin(["European Community", "Unspecified"])]
    df2 = df2[~df2["customer_id"].isin([16446])]
    df2_purchases = df2.loc[df2["quantity"] >= 0, :].copy()
    seconds["clean"] = time.perf_counter() - t

    t = time.perf_counter()
    df_ref = df2.drop(
        ["invoice_no", "stock_code", "quantity", "invoice_date", "unit_price", "country"], axis=1
    ).drop_duplicates(ignore_index=True)
    df2_purchases["gross_revenue"] = df2_purchases["quantity"] * df2_purchases["unit_price"]
    df_monetary = df2_purchases[["customer_id", "gross_revenue"]].groupby("customer_id").sum()
    df_ref = pd.merge(df_ref, df_monetary.reset_index(), on="customer_id", how="left")
    df_recency = df2_purchases[["customer_id", "invoice_date"]].groupby("customer_id").max()
    df_recency = df_recency.reset_index()
    df_recency["recency_days"] = (df2["invoice_date"].max() - df_recency["invoice_date"]).dt.days
    df_ref = pd.merge(df_ref, df_recency[["customer_id", "recency_days"]], on="customer_id",
                      how="left")
    df_freq = (df2_purchases[["customer_id", "invoice_no"]].drop_duplicates()
               .groupby("customer_id").count().reset_index()
               .rename(columns={"invoice_no": "invoice_quantity"}))
    df_ref = pd.merge(df_ref, df_freq, on="customer_id", how="left")
    df_items = (df2_purchases[["customer_id", "quantity"]].groupby("customer_id").sum()
                .reset_index().rename(columns={"quantity": "items_quantity"}))
    df_ref = pd.merge(df_ref, df_items, on="customer_id", how="left")
    df_products = (df2_purchases[["customer_id", "stock_code"]].groupby("customer_id").count()
                   .reset_index().rename(columns={"stock_code": "products_quantity"}))
    df_ref = pd.merge(df_ref, df_products, on="customer_id", how="left")
    df_ticket = (df2_purchases[["customer_id", "gross_revenue"]].groupby("customer_id").mean()
                 .reset_index().rename(columns={"gross_revenue": "avg_ticket"}))
    df_ref = pd.merge(df_ref, df_ticket, on="customer_id", how="left")
    df_ref = df_ref.dropna()
    seconds["features"] = time.perf_counter() - t
    return seconds, df_ref.set_index("customer_id").sort_index(), n_rows


METHODS = {"insiders": run_insiders, "notebook": run_notebook}


def measure(method: str, path: str) -> dict:
    """One measurement in this (fresh) process."""
    import pipeline.clean
    import pipeline.features  # noqa: F401
    from pipeline.ingest import validate_transactions

    # Imports count towards the footprint, not the time; pandera imports its backends (and
    # hypothesis, when installed) on first use, so one tiny validation happens before the clock.
    tiny = pd.DataFrame({"InvoiceNo": ["1"], "StockCode": ["A"], "Quantity": ["1"],
                         "InvoiceDate": ["2011-01-01"], "UnitPrice": ["1"], "CustomerID": ["1"]})
    validate_transactions(tiny)
    before = _rss_mib()
    seconds, features, n_rows = METHODS[method](path)
    return {
        "seconds": seconds,
        "total": sum(seconds.values()),
        "rows": n_rows,
        "customers": len(features),
        "rss_after_imports": before,
        "rss_peak": _rss_mib(),
        "features": features[list(FEATURE_COLUMNS)],
    }


def generate(path: str, customers: int, seed: int) -> dict:
    from pipeline.synthetic import write_synthetic

    t = time.perf_counter()
    rows = write_synthetic(path, customers, seed=seed)
    return {"rows": rows, "seconds": time.perf_counter() - t, "rss_peak": _rss_mib()}


def in_fresh_process(fn, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ---------------------------------------------------------------- reporting


def best_of(method: str, path: str, repeats: int) -> dict:
    runs = [in_fresh_process(measure, method, path) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["total"])
    best["total_median"] = statistics.median(r["total"] for r in runs)
    best["repeats"] = repeats
    return best


def agreement(ours: pd.DataFrame, theirs: pd.DataFrame) -> str:
    if not ours.index.equals(theirs.index.astype("int64")):
        return f"DIFFERENT customers: {len(ours)} vs {len(theirs)}"
    diffs = {c: float(np.max(np.abs(ours[c].to_numpy(float) - theirs[c].to_numpy(float))))
             for c in FEATURE_COLUMNS}
    worst = max(diffs, key=diffs.__getitem__)
    return f"same {len(ours):,} customers, largest |difference| {diffs[worst]:.2e} ({worst})"


def line(label: str, method: str, r: dict) -> str:
    s = r["seconds"]
    return (f"{label:<22} {method:<9} {r['rows']:>11,} {r['customers']:>9,} "
            f"{s['ingest']:>7.2f} {s['clean']:>6.2f} {s['features']:>8.2f} {r['total']:>7.2f} "
            f"{r['total_median']:>7.2f} {r['rows'] / r['total']:>11,.0f} "
            f"{r['rss_after_imports']:>7,.0f} {r['rss_peak']:>8,.0f}")


def bench(label: str, path: str, repeats: int) -> dict[str, dict]:
    results = {m: best_of(m, path, repeats) for m in METHODS}
    for method, r in results.items():
        print(line(label, method, r), flush=True)
    ours, theirs = results["insiders"], results["notebook"]
    print(f"{'':<22} agreement: {agreement(ours['features'], theirs['features'])}; "
          f"insiders takes {ours['total'] / theirs['total']:.2f}x the notebook's time and "
          f"{ours['rss_peak'] / theirs['rss_peak']:.2f}x its peak memory", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=110_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="runs on the real data (best)")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    real = load_settings().real_data
    print("seconds per stage; total = best run, median = median of runs; "
          "memory = max resident set (MiB) of a fresh process\n")
    print(f"{'data set':<22} {'method':<9} {'rows':>11} {'customers':>9} {'ingest':>7} "
          f"{'clean':>6} {'features':>8} {'total':>7} {'median':>7} {'rows/s':>11} "
          f"{'imports':>7} {'peak':>8}")
    small = bench("real Online Retail", str(real), args.repeats) if real.exists() else None
    if small is None:
        print(f"real data not found at {real} (set INSIDERS_REAL_DATA)")
    if args.skip_large:
        return
    with tempfile.TemporaryDirectory(prefix="insiders-bench-") as tmp:
        path = str(Path(tmp) / "synthetic.parquet")
        gen = in_fresh_process(generate, path, args.customers, args.seed)
        size = os.path.getsize(path) / 2**20
        print(f"{'':<22} (synthetic set: {args.customers:,} customers, {gen['rows']:,} rows, "
              f"{size:,.0f} MiB Parquet, written in {gen['seconds']:.1f} s, "
              f"{gen['rows'] / gen['seconds']:,.0f} rows/s, peak {gen['rss_peak']:,.0f} MiB)")
        large = bench(f"synthetic x{gen['rows'] / 541_909:.1f}", path, 1)
    if small is not None:
        for method in METHODS:
            ratio = large[method]["total"] / small[method]["total"]
            rows = large[method]["rows"] / small[method]["rows"]
            print(f"{method}: the large set takes {ratio:.1f}x the real set's time "
                  f"for {rows:.1f}x the rows")


if __name__ == "__main__":
    main()
