"""Scoring figures: the fast scorer against UMAP's exact transform, agreement and time.

    python benchmarks/scoring.py [--data PATH] [--synthetic 100000] [--skip-real]
                                 [--skip-synthetic]

For each data set a SegmentationModel is fitted on a sample (the real data: half of the
customers, drawn as the model draws its sample; synthetic: the default ``max_fit_customers``),
then the customers outside the sample are placed by both paths and clustered by the fitted
mixture. Printed per data set: customers, fitted customers, cluster agreement on the customers
outside the sample, agreement on every customer when the fast path scores everyone (against the
fitted labels for the sample and the exact transform for the rest), seconds per 100k customers
for each path and the extrapolation to a million. On the real data, the model the product
fits (every customer, exact) is also compared with the fast path scoring every customer.
Both paths run on one core (n_jobs=1); the exact path is warmed up first (numba compilation
excluded). The machine's load average is printed: other work on it slows both paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

# run as a script, this folder comes first on sys.path and benchmarks/pipeline.py would shadow
# the pipeline package
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from pipeline.clean import clean_transactions, load_profile  # noqa: E402
from pipeline.features import customer_features  # noqa: E402
from pipeline.ingest import read_transactions, validate_transactions  # noqa: E402
from pipeline.segment import SegmentationModel  # noqa: E402
from pipeline.synthetic import generate_transactions  # noqa: E402
from settings import load_settings  # noqa: E402

PER = 100_000
SEED = 42


def real_features(path: Path) -> pd.DataFrame:
    transactions = read_transactions(path).transactions
    return customer_features(
        clean_transactions(transactions, load_profile("online-retail")).transactions
    )


def synthetic_features(n_customers: int) -> pd.DataFrame:
    raw = generate_transactions(n_customers, seed=SEED)
    transactions = validate_transactions(raw, source="synthetic").transactions
    del raw
    return customer_features(
        clean_transactions(transactions, load_profile("online-retail")).transactions
    )


def _timed(call, *args):
    started = time.perf_counter()
    result = call(*args)
    return result, time.perf_counter() - started


def compare(features: pd.DataFrame, max_fit_customers: int | None) -> dict:
    """Fit on a sample, place the others both ways; agreement and seconds per 100k."""
    ordered = features.sort_index()
    model, fit_seconds = _timed(
        SegmentationModel(random_state=SEED, n_jobs=1, max_fit_customers=max_fit_customers).fit,
        ordered,
    )
    sample = model.fit_sample_
    rest = ordered[~sample]
    model.set_params(scoring="exact").transform(rest.iloc[:50])  # warm-up: numba compilation
    exact_embedding, exact_seconds = _timed(model.transform, rest)
    fast_embedding, fast_seconds = _timed(model.set_params(scoring="fast").transform, rest)
    exact_labels = model.mixture_.predict(exact_embedding)
    fast_labels = model.mixture_.predict(fast_embedding)
    exact_all = model.labels_.copy()
    exact_all[~sample] = exact_labels
    fast_all = model.predict(ordered)
    return {
        "customers": len(ordered),
        "fitted": int(sample.sum()),
        "fit_s": fit_seconds,
        "agree_rest": float((fast_labels == exact_labels).mean()),
        "agree_all": float((fast_all == exact_all).mean()),
        "exact_per": exact_seconds / len(rest) * PER,
        "fast_per": fast_seconds / len(rest) * PER,
        "scored": len(rest),
    }


def whole_fit(features: pd.DataFrame) -> dict:
    """The product's model on the real data (every customer fitted): fast vs fitted labels."""
    ordered = features.sort_index()
    model = SegmentationModel(random_state=SEED, n_jobs=1).fit(ordered)
    assert model.fit_sample_.all() and not model.fast_scoring_
    fast, seconds = _timed(model.set_params(scoring="fast").predict, ordered)
    return {"agree": float((fast == model.labels_).mean()), "fast_per": seconds / len(fast) * PER}


def print_comparison(name: str, figures: dict) -> None:
    print(f"\n{name}: {figures['customers']:,} customers, model fitted on {figures['fitted']:,} "
          f"({figures['fit_s']:.0f} s), {figures['scored']:,} scored by both paths")
    print(f"  cluster agreement, customers outside the sample: {100 * figures['agree_rest']:.2f}%")
    print(f"  cluster agreement, every customer scored fast:   {100 * figures['agree_all']:.2f}%")
    print(f"  {'path':<6} {'s per 100k':>11} {'s per million':>14}")
    for path in ("exact", "fast"):
        per = figures[f"{path}_per"]
        print(f"  {path:<6} {per:>11.1f} {per * 10:>14.0f}")
    print(f"  fast is {figures['exact_per'] / figures['fast_per']:.0f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_real:
        features = real_features(args.data or load_settings().real_data)
        whole = whole_fit(features)
        print(f"\nreal data, the product's model (all {len(features):,} customers fitted, exact): "
              f"every customer scored fast agrees on {100 * whole['agree']:.2f}% "
              f"({whole['fast_per']:.1f} s per 100k)")
        print_comparison("real data, half fitted", compare(features, len(features) // 2))
    if not args.skip_synthetic:
        features, seconds = _timed(synthetic_features, args.synthetic)
        print(f"\n(synthetic features for {args.synthetic:,} generated customers built in "
              f"{seconds:.0f} s; each guest invoice counts as a customer, as in the real data)")
        print_comparison("synthetic", compare(features, SegmentationModel().max_fit_customers))
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
