"""Stability of Insiders membership (issue 5) on the real data, beside the original method.

The original method refits forest + UMAP + GMM (k=7) on every run and calls the cluster with the
highest mean revenue "Insiders". Every refit made here fits exactly that model, so the original
group of each run is read off the same fit (its value-rule cluster), in the same process.

Prints, for both methods:
- determinism: a fresh fit on the rows shuffled gives identical membership and labels;
- robustness: drop every row of 1% of the non-Insiders customers (3 seeds) and refit from the
  kept state: Jaccard of the Insiders among the remaining customers;
- monthly runs as of each month end, June to December 2011, refitted monthly: events, phantom
  events (entered without a purchase in the period; left while revenue and invoices rose and
  recency did not worsen), causes and reasons;
- character: share of customers and of revenue; out-of-time spend in the 90 days after as_of;
- the time stability costs: the versioning and membership stages over the whole run.

Usage: python benchmarks/stability.py [--data PATH] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# run as a script, this folder comes first on sys.path and benchmarks/pipeline.py would shadow
# the pipeline package
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from pipeline.clean import clean_transactions, load_profile  # noqa: E402
from pipeline.ingest import read_transactions  # noqa: E402
from pipeline.run import RunResult, run_segmentation  # noqa: E402
from settings import load_settings  # noqa: E402

MONTH_ENDS = [dt.date(2011, m, d) for m, d in
              ((6, 30), (7, 31), (8, 31), (9, 30), (10, 31), (11, 30), (12, 9))]
DROP_SEEDS = (0, 1, 2)
HORIZON_DAYS = 90


def original_group(result: RunResult) -> pd.Series:
    """The original method's Insiders: the value-rule cluster of the run's fit."""
    cluster = int(result.clusters.loc[result.clusters["is_insiders"], "cluster"].iloc[0])
    return (result.labels["cluster"] == cluster).rename("is_insiders")


def jaccard(a: pd.Series, b: pd.Series, among: pd.Index) -> float:
    a, b = set(among[a.reindex(among).to_numpy()]), set(among[b.reindex(among).to_numpy()])
    return len(a & b) / len(a | b) if a | b else 1.0


def changes(before: pd.DataFrame, was: pd.Series, after: pd.DataFrame, now: pd.Series) -> dict:
    """Entries and exits between two runs, and how many of them are phantom."""
    was = was.reindex(after.index).fillna(False).to_numpy(dtype=bool)
    now = now.reindex(after.index).to_numpy(dtype=bool)
    old = before.reindex(after.index)
    known = after.index.isin(before.index)
    entered, exited = now & ~was, was & ~now & known
    same_invoices = after["invoice_quantity"].to_numpy() == old["invoice_quantity"].to_numpy()
    no_purchase = known & same_invoices
    improved = (
        (after["gross_revenue"].to_numpy() > old["gross_revenue"].to_numpy())
        & (after["invoice_quantity"].to_numpy() > old["invoice_quantity"].to_numpy())
        & (after["recency_days"].to_numpy() <= old["recency_days"].to_numpy())
    )
    phantom = (entered & no_purchase) | (exited & improved)
    return {
        "entered": int(entered.sum()),
        "exited": int(exited.sum()),
        "phantom_entered": int((entered & no_purchase).sum()),
        "phantom_exited": int((exited & improved).sum()),
        "phantom_ids": after.index[phantom].tolist(),
    }


def character(labels: pd.DataFrame, member: pd.Series) -> dict:
    member = member.reindex(labels.index).to_numpy(dtype=bool)
    revenue = labels["gross_revenue"].to_numpy(dtype=float)
    return {"n": int(member.sum()), "share": float(member.mean()),
            "revenue_share": float(revenue[member].sum() / revenue.sum())}


def future_spend(clean: pd.DataFrame, as_of: dt.date, customers: pd.Index) -> pd.Series:
    """Each customer's purchases in the HORIZON_DAYS after ``as_of`` (0 for none)."""
    day = clean["invoice_date"].dt.normalize()
    start = pd.Timestamp(as_of)
    window = clean[(day > start) & (day <= start + pd.Timedelta(days=HORIZON_DAYS))
                   & (clean["quantity"] > 0)]
    spend = (window["quantity"] * window["unit_price"]).groupby(window["customer_id"]).sum()
    return spend.reindex(customers, fill_value=0.0)


def out_of_time(clean: pd.DataFrame, as_of: dt.date, member: pd.Series) -> dict:
    spend = future_spend(clean, as_of, member.index)
    inside, rest = spend[member.to_numpy()], spend[~member.to_numpy()]
    return {"insiders_mean": float(inside.mean()), "rest_mean": float(rest.mean()),
            "lead": float(inside.mean() - rest.mean()),
            "ratio": float(inside.mean() / rest.mean()) if rest.mean() else None}


def monthly(transactions: pd.DataFrame, profile) -> list[RunResult]:
    results, state, previous = [], None, None
    for as_of in MONTH_ENDS:
        started = time.perf_counter()
        result = run_segmentation(transactions, as_of=as_of, profile=profile, state=state,
                                  previous=previous, refit=True)
        result.metrics["wall_seconds"] = time.perf_counter() - started
        print(f"  {as_of}: version {result.state.version}, {result.metrics['n_insiders']} "
              f"Insiders, {len(result.events)} events, {result.metrics['wall_seconds']:.0f} s",
              flush=True)
        results.append(result)
        state, previous = result.state, result.labels
    return results


def monthly_figures(results: list[RunResult], clean: pd.DataFrame) -> dict:
    rows, ours_events, orig_events = [], [], []
    for i, result in enumerate(results):
        as_of = MONTH_ENDS[i]
        orig = original_group(result)
        row = {"as_of": as_of.isoformat(), "ours": character(result.labels, result.labels[
            "is_insiders"]), "original": character(result.labels, orig)}
        row["ours"]["thresholds"] = result.metrics["thresholds"]
        row["ours"]["model_version"] = result.state.version
        if as_of + dt.timedelta(days=HORIZON_DAYS) <= MONTH_ENDS[-1]:
            row["ours"]["out_of_time"] = out_of_time(clean, as_of, result.labels["is_insiders"])
            row["original"]["out_of_time"] = out_of_time(clean, as_of, orig)
        if i:
            before = results[i - 1]
            ours = changes(before.labels, before.labels["is_insiders"], result.labels,
                           result.labels["is_insiders"])
            events = result.events.set_index("customer_id")
            causes = events["cause"].reindex(ours["phantom_ids"]).fillna("none")
            ours["phantom_causes"] = sorted(set(causes))
            ours["events"] = len(events)
            ours["by_cause"] = events.groupby("cause").size().to_dict()
            ours["without_reason"] = int((events["reason"].str.len() == 0).sum())
            row["ours"]["changes"] = ours
            row["original"]["changes"] = changes(before.labels, original_group(before),
                                                 result.labels, orig)
            ours_events.append(ours)
            orig_events.append(row["original"]["changes"])
        rows.append(row)
    return {"months": rows, "ours": _totals(ours_events), "original": _totals(orig_events)}


def _totals(per_month: list[dict]) -> dict:
    events = sum(m["entered"] + m["exited"] for m in per_month)
    phantom = sum(m["phantom_entered"] + m["phantom_exited"] for m in per_month)
    causes = sorted({c for m in per_month for c in m.get("phantom_causes", [])})
    return {"events": events, "phantom": phantom,
            "phantom_share": phantom / events if events else 0.0, "phantom_causes": causes,
            "without_reason": sum(m.get("without_reason", 0) for m in per_month)}


def shuffled(transactions: pd.DataFrame, profile, reference: RunResult) -> dict:
    rows = transactions.sample(frac=1.0, random_state=7)
    again = run_segmentation(rows, as_of=MONTH_ENDS[0], profile=profile)
    return {
        "ours_identical": bool(again.labels["is_insiders"].equals(reference.labels["is_insiders"])),
        "original_identical": bool(original_group(again).equals(original_group(reference))),
        "labels_identical": bool(again.labels.equals(reference.labels)),
        "fingerprint_identical": again.data_fingerprint == reference.data_fingerprint,
    }


def drop_one_percent(
    transactions: pd.DataFrame, profile, base: RunResult, guest_start: int | None
) -> list[dict]:
    """Refit from ``base``'s state without 1% of the customers neither method calls Insiders."""
    as_of, ours, orig = base.state.fitted_as_of, base.labels["is_insiders"], original_group(base)
    eligible = base.labels.index[~ours.to_numpy() & ~orig.to_numpy()]
    if guest_start is not None:  # guests' ids depend on row order; keep them
        eligible = eligible[eligible < guest_start]
    out = []
    for seed in DROP_SEEDS:
        rng = np.random.default_rng(seed)
        dropped = rng.choice(eligible.to_numpy(), size=round(0.01 * len(base.labels)),
                             replace=False)
        kept_rows = transactions[~transactions["customer_id"].isin(dropped)]
        result = run_segmentation(kept_rows, as_of=as_of, profile=profile, state=base.state,
                                  previous=base.labels, refit=True)
        remaining = result.labels.index.intersection(base.labels.index)
        names = [_names(r).reindex(remaining) for r in (base, result)]
        numbers = [_components(r).reindex(remaining) for r in (base, result)]
        out.append({
            "ours_same_cluster_name": float((names[0] == names[1]).mean()),
            "original_same_cluster_number": float((numbers[0] == numbers[1]).mean()),
            "seed": seed, "dropped": len(dropped),
            "ours_jaccard": jaccard(result.labels["is_insiders"], ours, remaining),
            "original_jaccard": jaccard(original_group(result), orig, remaining),
            "ours_size": [int(ours.sum()), int(result.labels["is_insiders"].sum())],
            "original_size": [int(orig.sum()), int(original_group(result).sum())],
        })
        print(f"  drop seed {seed}: ours {out[-1]['ours_jaccard']:.3f}, original "
              f"{out[-1]['original_jaccard']:.3f}", flush=True)
    return out


def _names(result: RunResult) -> pd.Series:
    """Each customer's cluster name, kept across versions by matching."""
    names = result.clusters.set_index("cluster")["name"]
    return result.labels["cluster"].map(names)


def _components(result: RunResult) -> pd.Series:
    """Each customer's raw mixture component number, as the original method would show it."""
    raw = {r["cluster"]: r["model_cluster"] for r in result.state.clusters}
    return result.labels["cluster"].map(raw)


def scoring(transactions: pd.DataFrame, profile, state_from: RunResult, refit: RunResult) -> dict:
    """A scheduled run that scores with the kept version instead of refitting."""
    started = time.perf_counter()
    result = run_segmentation(transactions, as_of=refit.state.fitted_as_of, profile=profile,
                              state=state_from.state, previous=state_from.labels)
    wall = time.perf_counter() - started
    return {"scoring_seconds": wall, "refit_seconds": refit.metrics["wall_seconds"],
            "n_insiders": int(result.labels["is_insiders"].sum()), "events": len(result.events),
            "stages": result.metrics["seconds"]}


def timing(results: list[RunResult]) -> dict:
    total = sum(sum(r.metrics["seconds"].values()) for r in results)
    stability = sum(r.metrics["seconds"].get("version", 0) + r.metrics["seconds"]["membership"]
                    for r in results)
    original = sum(r.metrics["seconds"][s] for r in results for s in ("clean", "features", "fit"))
    return {"run_seconds": total, "stability_seconds": stability,
            "stability_share_of_run": stability / total,
            "original_method_seconds": original}


def print_summary(figures: dict) -> None:
    det, drops, mon, tim = (figures[k] for k in ("shuffle", "drop", "monthly", "timing"))
    print("\n## Stability (issue 5): ours vs the original method, same process\n")
    print("| check | ours | original |\n| --- | --- | --- |")
    print(f"| shuffled rows: identical membership | {det['ours_identical']} | "
          f"{det['original_identical']} |")
    for d in drops:
        print(f"| drop 1% (seed {d['seed']}): Jaccard | {d['ours_jaccard']:.3f} "
              f"({d['ours_size'][0]} -> {d['ours_size'][1]}) | {d['original_jaccard']:.3f} "
              f"({d['original_size'][0]} -> {d['original_size'][1]}) |")
    for key in ("ours", "original"):
        t = mon[key]
        mon[key]["text"] = (f"{t['events']} events, {t['phantom']} phantom "
                            f"({100 * t['phantom_share']:.1f}%)")
    print(f"| monthly Jul-Dec: events, phantom | {mon['ours']['text']}; phantom causes "
          f"{mon['ours']['phantom_causes']}; without reason {mon['ours']['without_reason']} | "
          f"{mon['original']['text']} |")
    for row in mon["months"]:
        o, g = row["ours"], row["original"]
        line = (f"| {row['as_of']}: size, share, revenue share | {o['n']}, {o['share']:.1%}, "
                f"{o['revenue_share']:.1%} | {g['n']}, {g['share']:.1%}, "
                f"{g['revenue_share']:.1%} |")
        print(line)
        entry, exit_ = o["thresholds"]["entry"], o["thresholds"]["exit"]
        print(f"| {row['as_of']}: thresholds of version {o['model_version']} (entry / exit: "
              f"revenue, invoices, recency) | {_levels(entry)} / {_levels(exit_)} | "
              f"top-revenue cluster |")
        if "out_of_time" in o:
            a, b = o["out_of_time"], g["out_of_time"]
            print(f"| {row['as_of']}: 90-day spend Insiders / rest (lead) | "
                  f"{a['insiders_mean']:,.0f} / {a['rest_mean']:,.0f} ({a['lead']:,.0f}, "
                  f"x{a['ratio']:.1f}) | {b['insiders_mean']:,.0f} / {b['rest_mean']:,.0f} "
                  f"({b['lead']:,.0f}, x{b['ratio']:.1f}) |")
    for d in drops:
        print(f"| drop 1% (seed {d['seed']}): customers keeping their cluster | "
              f"{d['ours_same_cluster_name']:.1%} (same name) | "
              f"{d['original_same_cluster_number']:.1%} (same component number) |")
    sc = figures["scoring"]
    print(f"| December run scoring with the November version (no refit) | "
          f"{sc['scoring_seconds']:.0f} s, {sc['n_insiders']} Insiders, {sc['events']} events | "
          f"refit {sc['refit_seconds']:.0f} s |")
    print(f"| time: stability stages / whole runs | {tim['stability_seconds']:.1f} s / "
          f"{tim['run_seconds']:.0f} s ({tim['stability_share_of_run']:.1%}) | "
          f"clean+features+fit {tim['original_method_seconds']:.0f} s |")


def _levels(levels: dict) -> str:
    return (f"{levels['gross_revenue']:,.0f}, {levels['invoice_quantity']}, "
            f"{levels['recency_days']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    path = args.data or load_settings().real_data
    profile = load_profile("online-retail")
    transactions = read_transactions(path).transactions
    clean = clean_transactions(transactions, profile).transactions
    print(f"{path.name}: {len(transactions):,} rows", flush=True)
    print("monthly runs (refit monthly):", flush=True)
    results = monthly(transactions, profile)
    figures = {"monthly": monthly_figures(results, clean), "timing": timing(results)}
    print("shuffled rows:", flush=True)
    figures["shuffle"] = shuffled(transactions, profile, results[0])
    print("1% drops from the December state:", flush=True)
    figures["drop"] = drop_one_percent(transactions, profile, results[-1],
                                       profile.guest_id_start)
    print("scoring December with the November version:", flush=True)
    figures["scoring"] = scoring(transactions, profile, results[-2], results[-1])
    print_summary(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
