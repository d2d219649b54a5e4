"""Forecast figures (issue 13): BG/NBD + Gamma-Gamma fitted on the real data as of a date, its
next-90-days spend predictions against what happened, beside the naive baselines.

    python benchmarks/forecast.py [--data PATH] [--as-of 2011-09-09] [--horizon-days 90] [--pymc]

Data: INSIDERS_REAL_DATA (read with pipeline.ingest.read_transactions, cleaned with the
online-retail profile; guest ids left out). Prints the machine, the fit time (in process, after
the imports, so it does not depend on how the packages were installed), the fitted parameters,
mean absolute error, Spearman correlation and top-10% revenue capture for the model and both
baselines, and the calibration table. ``--pymc`` also fits PyMC-Marketing's BetaGeoModel and
GammaGammaModel by maximum a posteriori on the same summary (when installed) and prints the
largest relative difference of parameters and predictions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.clean import clean_transactions, load_profile  # noqa: E402
from pipeline.forecast import ForwardModel  # noqa: E402
from pipeline.forecast_check import out_of_time_check  # noqa: E402
from pipeline.ingest import read_transactions  # noqa: E402
from settings import load_settings  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                    if ln.startswith("model name")), cpu)
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}"


def compare_with_pymc(model: ForwardModel, horizon_days: int) -> None:
    # deferred: an optional, heavy package only this comparison needs
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    rfm = model.rfm_.reset_index().rename(columns={model.customer_col: "customer_id"})
    started = time.perf_counter()
    bg = BetaGeoModel(data=rfm[["customer_id", "frequency", "recency", "T"]])
    bg.fit(method="map", progressbar=False)
    repeat = rfm[rfm["frequency"] > 0]
    gg = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
    gg.fit(method="map", progressbar=False)
    seconds = time.perf_counter() - started
    theirs = {k: float(bg.idata.posterior[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")}
    theirs.update({k: float(gg.idata.posterior[k].values.ravel()[0]) for k in ("p", "q", "v")})
    ours = {**model.bgnbd_params_, **model.gamma_gamma_params_}
    print(f"\nPyMC-Marketing MAP fit (compilation included): {seconds:.1f} s")
    for name, value in theirs.items():
        print(f"  {name:>5}: ours {ours[name]:.6g}  PyMC-Marketing {value:.6g}")
    data = rfm[["customer_id", "frequency", "recency", "T"]]
    purchases = bg.expected_purchases(data=data, future_t=horizon_days).values.ravel()
    spend = gg.expected_customer_spend(
        data=rfm[["customer_id", "frequency", "monetary_value"]]).values.ravel()
    mine = model.predict(horizon_days)
    diff = np.abs(mine["expected_spend"].to_numpy() - purchases * spend)
    print(f"  largest relative difference of expected spend: "
          f"{float(np.max(diff / np.maximum(purchases * spend, 1e-9))):.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--as-of", default="2011-09-09")
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--pymc", action="store_true", help="Compare with PyMC-Marketing.")
    args = parser.parse_args()
    path = args.data or load_settings().real_data
    if not path.exists():
        sys.exit(f"real data not found at {path} (set INSIDERS_REAL_DATA)")
    print(f"machine: {machine()}")
    started = time.perf_counter()
    cleaned = clean_transactions(read_transactions(path).transactions,
                                 load_profile("online-retail"))
    print(f"read and clean: {time.perf_counter() - started:.1f} s, "
          f"{len(cleaned.transactions):,} rows")
    model = ForwardModel(guest_id_range=cleaned.guest_id_range)
    check = out_of_time_check(cleaned.transactions, dt.date.fromisoformat(args.as_of),
                              horizon_days=args.horizon_days, model=model)
    params = check.params
    print(f"fitted as of {check.as_of}, {params['n_fit_customers']:,} customers, "
          f"horizon {check.horizon_days} days; fit {check.fit_seconds:.2f} s")
    print("BG/NBD:", {k: round(v, 4) for k, v in params["bgnbd"].items()})
    print("Gamma-Gamma:", {k: round(v, 4) for k, v in params["gamma_gamma"].items()})
    print(f"actual next-period spend of these customers: {check.actual_total:,.0f}\n")
    with pd.option_context("display.float_format", "{:,.3f}".format, "display.width", 120):
        print(check.metrics.to_string())
        print("\ncalibration (model, by decile of predicted spend):")
        print(check.calibration.to_string(index=False))
    if args.pymc:
        compare_with_pymc(model, args.horizon_days)


if __name__ == "__main__":
    main()
