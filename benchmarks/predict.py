"""Looking-ahead acceptance figures (issue 13) on the real data.

    python benchmarks/predict.py [--data PATH] [--as-of 2011-09-09] [--score-as-of 2011-09-30]
                                 [--horizon-days 90] [--repeats 3]

1. Out-of-time check (``benchmarks/forecast.py``'s, :func:`pipeline.forecast_check.
   out_of_time_check`): BG/NBD + Gamma-Gamma fitted as of ``--as-of``, its spend predictions
   for the next ``--horizon-days`` against what happened: mean absolute error, Spearman and
   top-10% revenue capture beside the naive baselines (last period repeated, lifetime spend
   rate), and beside the Insiders group's own capture (the run's Insiders as of that date, and
   the model's top customers in the same number).
2. Fit time: the forward model as a refit fits it (in process, after imports).
3. Scoring overhead: a scoring run (``pipeline.run.run_segmentation`` with the version fitted
   as of ``--as-of``) on ``--score-as-of``, with and without looking ahead, best of
   ``--repeats``; the overhead is the difference over the run without it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.forecast import machine  # noqa: E402
from pipeline.clean import clean_transactions, load_profile  # noqa: E402
from pipeline.forecast import ForwardModel  # noqa: E402
from pipeline.forecast_check import out_of_time_check  # noqa: E402
from pipeline.ingest import read_transactions  # noqa: E402
from pipeline.run import run_segmentation  # noqa: E402
from pipeline.run_forecast import ForecastSettings, fit_forward_model  # noqa: E402
from settings import load_settings  # noqa: E402


def group_capture(members: pd.Index, actual: pd.Series) -> float:
    total = float(actual.sum())
    return float(actual.reindex(members, fill_value=0.0).sum() / total) if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--as-of", default="2011-09-09")
    parser.add_argument("--score-as-of", default="2011-09-30")
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = args.data or load_settings().real_data
    if not path.exists():
        sys.exit(f"real data not found at {path} (set INSIDERS_REAL_DATA)")
    as_of, score_as_of = (dt.date.fromisoformat(d) for d in (args.as_of, args.score_as_of))
    print(f"machine: {machine()}")
    profile = load_profile("online-retail")
    raw = read_transactions(path).transactions
    cleaned = clean_transactions(raw, profile)
    rows = cleaned.transactions

    # 1. out of time
    check = out_of_time_check(rows, as_of, horizon_days=args.horizon_days,
                              model=ForwardModel(guest_id_range=cleaned.guest_id_range))
    print(f"\nout-of-time check: fitted as of {check.as_of}, "
          f"{check.params['n_fit_customers']:,} customers (guests left out), horizon "
          f"{check.horizon_days} days; actual next-period spend {check.actual_total:,.0f}, "
          f"predicted {check.metrics.loc['model', 'predicted_total']:,.0f}")
    with pd.option_context("display.float_format", "{:,.3f}".format, "display.width", 120):
        print(check.metrics.to_string())
    model_row = check.metrics.loc["model"]
    for name in ("last_period", "lifetime_rate"):
        row = check.metrics.loc[name]
        print(f"  model better than {name}: MAE {model_row['mae'] < row['mae']}, "
              f"Spearman {model_row['spearman'] > row['spearman']}")

    # the Insiders group as of the same date: a first model version fitted on that day
    started = time.perf_counter()
    fitted = run_segmentation(raw, as_of=as_of, profile=profile,
                              forecast=ForecastSettings(horizon_days=args.horizon_days))
    refit_seconds = time.perf_counter() - started
    per = check.per_customer
    insiders = fitted.labels.index[fitted.labels["is_insiders"].to_numpy()]
    members = insiders.intersection(per.index)
    n_members = len(members)
    top_n = per["model"].sort_values(ascending=False, kind="stable").index[:n_members]
    print(f"\nInsiders as of {as_of}: {len(insiders):,} ({n_members:,} among the "
          f"{len(per):,} customers checked, {n_members / len(per):.1%}); their share of the "
          f"next {args.horizon_days} days' revenue: {group_capture(members, per['actual']):.3f}; "
          f"the model's top {n_members:,}: {group_capture(top_n, per['actual']):.3f}; "
          f"last period's top {n_members:,}: "
          f"{group_capture(per['last_period'].nlargest(n_members).index, per['actual']):.3f}")
    print(f"refit run with looking ahead (segmentation fit included): {refit_seconds:.1f} s; "
          f"stages {fitted.metrics['seconds']}")

    # 2. fit time as a refit fits it (all customers of the run's data, guests left out)
    fits = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        fit_forward_model(rows, as_of, guest_id_range=cleaned.guest_id_range, random_state=42)
        fits.append(time.perf_counter() - started)
    print(f"\nforward model fit: best {min(fits):.2f} s, worst {max(fits):.2f} s "
          f"(of {args.repeats})")

    # 3. scoring overhead
    timings: dict[str, list[float]] = {"without": [], "with": []}
    forecast_stage = []
    for _ in range(args.repeats):
        for name, settings in (("without", None),
                               ("with", ForecastSettings(horizon_days=args.horizon_days))):
            started = time.perf_counter()
            scored = run_segmentation(raw, as_of=score_as_of, profile=profile,
                                      state=fitted.state, previous=fitted.labels,
                                      forecast=settings)
            timings[name].append(time.perf_counter() - started)
            if settings is not None:
                forecast_stage.append(scored.metrics["seconds"]["forecast"])
                ahead = scored.metrics["forecast"]
    without, with_ = min(timings["without"]), min(timings["with"])
    print(f"\nscoring run as of {score_as_of} (model version fitted {as_of}), best of "
          f"{args.repeats}: without looking ahead {without:.2f} s, with {with_:.2f} s; "
          f"forecast stage {np.median(forecast_stage):.2f} s (median) = "
          f"{np.median(forecast_stage) / without:.1%} of the run without it; "
          f"difference of best runs {(with_ - without) / without:+.1%}")
    print(f"scoring run's forecasts: {ahead}")


if __name__ == "__main__":
    main()
