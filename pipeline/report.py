"""The seven answers about the Insiders, as data and as Markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS, FEATURE_LABELS, INTEGER_RULE_FEATURES
from pipeline.conditions import LOWER_IS_BETTER, meets_entry, meets_exit
from pipeline.errors import PipelineInputError
from pipeline.plain import plain_value
from pipeline.profiles import cluster_profiles
from pipeline.report_forecast import FORECAST_DAYS, evidence_from_inputs, forecast_lines
from pipeline.report_inputs import OUT_OF_TIME_DAYS, ReportInputs, report_inputs
from pipeline.report_intervals import (
    BOOTSTRAP,
    BOOTSTRAP_SAMPLES,
    NORMAL,
    interval_kinds,
    interval_note,
    mean_ci,
)

EVIDENCE_FEATURES: tuple[str, ...] = ("gross_revenue", "invoice_quantity", "avg_ticket")
THRESHOLD_NOTE = (
    "Thresholds are those of the model version in use. Exit levels sit below the entry levels "
    "(recency: above, as fewer days since the last purchase is better), so an Insider stays "
    "one until a level is clearly crossed."
)


BOOTSTRAP_NOTE = (
    "*A 95% confidence interval is the range the mean would fall in 95 times out of 100 had "
    "we seen other customers like these; bootstrap means it is found by re-drawing the "
    f"customers at random {BOOTSTRAP_SAMPLES:,} times.*"
)
OUT_OF_TIME_NOTE = (
    "*The out-of-time check looks at purchases made after the as-of date, which the "
    "segmentation never saw: if the Insiders really are the best customers, they keep "
    "spending more.*"
)
OPERATORS = {">=": "at least", ">": "above", "<=": "at most", "<": "below"}


@dataclass
class Report:
    """Answers 1-7; ``to_dict`` is JSON-safe, ``to_markdown`` is for people."""

    as_of: date
    insiders_ids: list[int]
    n_customers: int
    n_insiders: int
    insiders_share: float
    revenue_share: float
    insiders_cluster: int | None
    clusters: list[dict]
    distinctive: list[dict]
    thresholds: dict
    thresholds_source: str
    threshold_counts: dict
    evidence: dict
    out_of_time: dict | None = field(default=None)
    forecast: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return plain_value(
            {
                "as_of": self.as_of.isoformat(),
                "insiders_ids": self.insiders_ids,
                "n_customers": self.n_customers,
                "n_insiders": self.n_insiders,
                "insiders_share": self.insiders_share,
                "revenue_share": self.revenue_share,
                "insiders_cluster": self.insiders_cluster,
                "clusters": self.clusters,
                "distinctive": self.distinctive,
                "thresholds": self.thresholds,
                "thresholds_source": self.thresholds_source,
                "threshold_counts": self.threshold_counts,
                "evidence": self.evidence,
                "out_of_time": self.out_of_time,
                "forecast": self.forecast,
            }
        )

    def insiders_csv(self) -> str:
        """Answer 1 as a CSV file body (one customer_id per line)."""
        return "customer_id\n" + "".join(f"{i}\n" for i in self.insiders_ids)

    def to_markdown(self, cluster_names: Mapping[int, str] | None = None) -> str:
        """The report for people; clusters by name when ``cluster_names`` are given."""
        return _markdown(self, cluster_names or {})


def build_report(
    labels: pd.DataFrame,
    *,
    as_of: date,
    thresholds: dict,
    clean: pd.DataFrame | None = None,
    random_state: int = 42,
    guest_id_range: tuple[int, int] | None = None,
    forecast_days: int = FORECAST_DAYS,
    inputs: ReportInputs | None = None,
    forecast: dict | None = None,
) -> Report:
    """Answer the seven questions for a labels frame: ``is_insiders`` is the membership decided
    with ``thresholds`` (those of the model version in use, see :mod:`pipeline.thresholds`).
    ``guest_id_range``: the cleaning's guest ids, left out of the forecast check over
    ``forecast_days``. The out-of-time checks read ``inputs`` (per-customer figures, see
    :mod:`pipeline.report_inputs`), or else compute them from ``clean``; without either there
    are none. ``forecast``: the forecast check made beforehand from the same ``inputs``
    (:func:`pipeline.report_forecast.evidence_from_inputs`); None: made here."""
    _check_labels(labels)
    if inputs is None:
        inputs = report_inputs(clean, as_of, horizon_days=forecast_days)
    labels = labels.sort_index()
    insiders = labels["is_insiders"].to_numpy(dtype=bool)
    if not insiders.any():
        raise PipelineInputError("the labels mark no customer as an Insider")
    features = labels.loc[:, list(FEATURE_COLUMNS)].astype("float64")
    revenue = features["gross_revenue"].to_numpy()
    total_revenue = revenue.sum()
    rng = np.random.default_rng(random_state)
    return Report(
        as_of=as_of,
        insiders_ids=[int(i) for i in labels.index[insiders]],
        n_customers=len(labels),
        n_insiders=int(insiders.sum()),
        insiders_share=float(insiders.mean()),
        revenue_share=float(revenue[insiders].sum() / total_revenue) if total_revenue else math.nan,
        insiders_cluster=_insiders_cluster(labels, insiders),
        clusters=_cluster_rows(labels, insiders),
        distinctive=_distinctive(features, insiders),
        thresholds=thresholds,
        thresholds_source="given",
        threshold_counts=_threshold_counts(features, insiders, thresholds),
        evidence={c: _compare(features[c].to_numpy(), insiders, rng) for c in EVIDENCE_FEATURES},
        out_of_time=_out_of_time(labels, insiders, inputs, as_of, rng),
        forecast=forecast if forecast is not None else evidence_from_inputs(
            labels, inputs, as_of, thresholds, guest_id_range=guest_id_range,
            random_state=random_state),
    )


def _check_labels(labels: pd.DataFrame) -> None:
    needed = ["cluster", "is_insiders", *FEATURE_COLUMNS]
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise PipelineInputError(f"labels are missing column(s): {', '.join(missing)}")
    if labels.empty:
        raise PipelineInputError("labels are empty")


def _insiders_cluster(labels: pd.DataFrame, insiders: np.ndarray) -> int | None:
    clusters = labels.loc[insiders, "cluster"].unique()
    return int(clusters[0]) if len(clusters) == 1 else None


def _cluster_rows(labels: pd.DataFrame, insiders: np.ndarray) -> list[dict]:
    features = labels.loc[:, list(FEATURE_COLUMNS)].astype("float64")
    profiles = cluster_profiles(features, labels["cluster"].to_numpy())
    insiders_share = pd.Series(insiders, index=labels.index).groupby(labels["cluster"]).mean()
    profiles["insiders_share"] = insiders_share
    profiles = profiles.sort_values("gross_revenue", ascending=False, kind="stable")
    return [{"cluster": int(k), **row} for k, row in profiles.to_dict("index").items()]


def _distinctive(features: pd.DataFrame, insiders: np.ndarray) -> list[dict]:
    """Insiders' mean against the rest's for each feature, most different first."""
    rows = []
    for column in FEATURE_COLUMNS:
        inside = float(features.loc[insiders, column].mean())
        rest = float(features.loc[~insiders, column].mean()) if (~insiders).any() else math.nan
        ratio = inside / rest if rest else math.nan
        rows.append(
            {
                "feature": column,
                "insiders_mean": inside,
                "rest_mean": rest,
                "ratio": ratio,
                "lower_is_better": column in LOWER_IS_BETTER,
            }
        )
    return sorted(rows, key=lambda r: -abs(math.log(r["ratio"])) if r["ratio"] > 0 else 0.0)


def _threshold_counts(features: pd.DataFrame, insiders: np.ndarray, thresholds: dict) -> dict:
    entry = meets_entry(features, thresholds).to_numpy()
    exit_ = meets_exit(features, thresholds).to_numpy()
    return {
        "insiders_meeting_entry": int((entry & insiders).sum()),
        "others_meeting_entry": int((entry & ~insiders).sum()),
        "insiders_meeting_exit": int((exit_ & insiders).sum()),
    }


def _compare(values: np.ndarray, insiders: np.ndarray, rng: np.random.Generator) -> dict:
    """Both groups' means and 95% intervals; ``intervals`` says which they are when one is not
    bootstrapped (a large group, :mod:`pipeline.report_intervals`)."""
    inside, rest = values[insiders], values[~insiders]
    inside_ci, inside_kind = mean_ci(inside, rng)
    rest_ci, rest_kind = mean_ci(rest, rng)
    result = {
        "insiders_mean": float(inside.mean()),
        "insiders_ci95": list(inside_ci),
        "rest_mean": float(rest.mean()) if rest.size else math.nan,
        "rest_ci95": list(rest_ci),
        "ratio": float(inside.mean() / rest.mean()) if rest.size and rest.mean() else math.nan,
    }
    if NORMAL in (inside_kind, rest_kind):
        result["intervals"] = {"insiders": inside_kind, "rest": rest_kind}
    return result


def _out_of_time(
    labels: pd.DataFrame,
    insiders: np.ndarray,
    inputs: ReportInputs | None,
    as_of: date,
    rng: np.random.Generator,
) -> dict | None:
    """Purchases per customer in the days after ``as_of`` (customers who bought nothing count 0)."""
    if inputs is None or inputs.after is None:
        return None
    start = as_of + timedelta(days=1)
    end = as_of + timedelta(days=OUT_OF_TIME_DAYS)
    spend = inputs.after.reindex(labels.index, fill_value=0.0).to_numpy(dtype=np.float64)
    last_day = min(inputs.last_day, end)
    result = {
        "window_start": start.isoformat(),
        "window_end": last_day.isoformat(),
        "days_covered": (last_day - start).days + 1,
        "spend": _compare(spend, insiders, rng),
        "share_buying": {
            "insiders": float((spend[insiders] > 0).mean()),
            "rest": float((spend[~insiders] > 0).mean()) if (~insiders).any() else math.nan,
        },
    }
    low_in, _ = result["spend"]["insiders_ci95"]
    _, high_rest = result["spend"]["rest_ci95"]
    result["insiders_spent_more"] = bool(low_in > high_rest)
    return result


def _markdown(report: Report, cluster_names: Mapping[int, str]) -> str:
    lines = [
        f"# Insiders report as of {report.as_of.isoformat()}",
        "",
        "## 1. Who are the Insiders?",
        f"{report.n_insiders} customers (ids in the CSV export); first ids: "
        + ", ".join(str(i) for i in report.insiders_ids[:10])
        + (" ..." if report.n_insiders > 10 else ""),
        "",
        "## 2. How many are they?",
        f"{report.n_insiders} of {report.n_customers} customers ({report.insiders_share:.1%}).",
        "",
        "## 3. What are they like?",
        *_cluster_table(report, cluster_names),
        "",
        "What sets the Insiders apart (mean of Insiders / mean of the rest):",
        "",
        *(
            f"- {_label(row['feature'])}: {row['insiders_mean']:,.2f} vs {row['rest_mean']:,.2f} "
            f"({_ratio(row['ratio'])})" + (" (lower is better)" if row["lower_is_better"] else "")
            for row in report.distinctive
        ),
        "",
        "## 4. What share of revenue do they bring?",
        f"{report.revenue_share:.1%} of gross revenue from "
        f"{report.insiders_share:.1%} of customers.",
        "",
        "## 5. Who becomes an Insider? (entry condition: all of)",
        *_conditions(report.thresholds["entry"]),
        "",
        f"Now {report.threshold_counts['others_meeting_entry']} customers outside the Insiders "
        f"meet it (and {report.threshold_counts['insiders_meeting_entry']} Insiders).",
        "",
        "## 6. Who stops being an Insider? (exit condition: any of)",
        *_conditions(report.thresholds["exit"]),
        "",
        f"Now {report.threshold_counts['insiders_meeting_exit']} Insiders meet it.",
        "",
        THRESHOLD_NOTE,
        "",
        "## 7. Evidence",
        *_evidence_head(report),
        "",
        "| Feature | Insiders (95% interval) | Rest (95% interval) | Ratio |",
        "| --- | --- | --- | --- |",
        *(
            f"| {_label(name)} | {_mean_ci(c['insiders_mean'], c['insiders_ci95'])} "
            f"| {_mean_ci(c['rest_mean'], c['rest_ci95'])} | {_ratio(c['ratio'])} |"
            for name, c in report.evidence.items()
        ),
        "",
        *_out_of_time_lines(report.out_of_time),
        "",
        *forecast_lines(report.forecast),
    ]
    return "\n".join(lines) + "\n"


def _evidence_head(report: Report) -> list[str]:
    """How question 7's intervals were found: the bootstrap note as ever, unless a group was too
    large to bootstrap."""
    comparisons = list(report.evidence.values())
    if report.out_of_time is not None:
        comparisons.append(report.out_of_time["spend"])
    kinds = interval_kinds(comparisons)
    if set(kinds.values()) == {BOOTSTRAP}:
        return ["Mean per customer with bootstrap 95% confidence intervals:", "", BOOTSTRAP_NOTE]
    sizes = {"insiders": report.n_insiders, "rest": report.n_customers - report.n_insiders}
    return ["Mean per customer with 95% confidence intervals:", "",
            interval_note(kinds, sizes)]


def _label(feature: str) -> str:
    return FEATURE_LABELS.get(feature, feature)


def _cluster_table(report: Report, cluster_names: Mapping[int, str]) -> list[str]:
    head = ["Cluster", "Customers", "%", *(_label(c) for c in FEATURE_COLUMNS), "Revenue %",
            "Insiders %"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in report.clusters:
        cells = [
            cluster_names.get(row["cluster"]) or f"Cluster {row['cluster']}",
            str(row["size"]),
            f"{row['share']:.1%}",
            *(f"{row[c]:,.2f}" for c in FEATURE_COLUMNS),
            f"{row['revenue_share']:.1%}",
            f"{row['insiders_share']:.1%}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _conditions(conditions: dict) -> list[str]:
    return [f"- {_label(name)} {OPERATORS.get(rule['op'], rule['op'])} "
            f"{_level(name, rule['value'])}" for name, rule in conditions.items()]


def _level(name: str, value: float) -> str:
    return f"{value:,.0f}" if name in INTEGER_RULE_FEATURES else f"{value:,.2f}"


def _out_of_time_lines(result: dict | None) -> list[str]:
    if result is None:
        return ["Out-of-time check: no transactions after the as-of date.", "",
                OUT_OF_TIME_NOTE]
    spend = result["spend"]
    verdict = "yes" if result["insiders_spent_more"] else "not clearly (intervals overlap)"
    return [
        f"Out-of-time check, {result['window_start']} to {result['window_end']} "
        f"({result['days_covered']} days): spend per customer "
        f"Insiders {_mean_ci(spend['insiders_mean'], spend['insiders_ci95'])}, "
        f"rest {_mean_ci(spend['rest_mean'], spend['rest_ci95'])}; "
        f"bought again: {result['share_buying']['insiders']:.0%} vs "
        f"{result['share_buying']['rest']:.0%}. Did the Insiders spend more? {verdict}.",
        "",
        OUT_OF_TIME_NOTE,
    ]


def _mean_ci(mean: float, ci: list[float]) -> str:
    return f"{mean:,.2f} ({ci[0]:,.2f} to {ci[1]:,.2f})"


def _ratio(ratio: float) -> str:
    return f"x{ratio:,.2f}" if math.isfinite(ratio) else "n/a"
