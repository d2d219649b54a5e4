"""Question 7 looking ahead: the out-of-time check of the forecast, as the report stores it.

The forecast (:mod:`pipeline.forecast`) is fitted as of the latest day whose next
``horizon_days`` the data hold entirely, never after the run's as-of date: the run's own date
when later purchases are known (a backfilled run), otherwise ``horizon_days`` before the last
purchase day, so the current run always carries a check. Its predicted spend is compared with
what each customer then spent (:func:`pipeline.forecast_check.out_of_time_check`), beside the two
naive baselines measured in the same call and beside the Insiders group's own capture: the run's
Insiders when fitted on the run's date, else the customers who met the entry levels on the day
of the fit.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline.conditions import meets_entry
from pipeline.errors import PipelineInputError
from pipeline.forecast import ForwardModel
from pipeline.forecast_check import check_summary
from pipeline.report_inputs import ReportInputs, report_inputs

FORECAST_DAYS = 90
TOP_SHARE = 0.10
PREDICTOR_LABELS = {
    "model": "Forecast",
    "last_period": "Last 90 days repeated",
    "lifetime_rate": "Lifetime spend rate",
}
STATISTIC_NOTES = (
    "*Mean absolute error: on average, how far each customer's predicted spend was from what "
    "they really spent (lower is better).*",
    "*Rank correlation: how well the order of customers by prediction matches their order by "
    "what they really spent, from -1 to 1 (higher is better).*",
    "*Top 10% capture: the share of the period's revenue that came from the tenth of customers "
    "predicted to spend most (higher is better; 10% is what a random pick would get).*",
    "*Calibration: customers split into ten equal groups by predicted spend; a well-calibrated "
    "forecast predicts about what each group then spent.*",
)


def forecast_evidence(
    labels: pd.DataFrame,
    clean: pd.DataFrame | None,
    as_of: dt.date,
    thresholds: dict,
    *,
    horizon_days: int = FORECAST_DAYS,
    guest_id_range: tuple[int, int] | None = None,
    random_state: int = 42,
) -> dict | None:
    """The check as plain data, ``{"unavailable": reason}`` when the data cannot give one, None
    without transactions. ``labels``: the run's labels (``is_insiders``)."""
    inputs = report_inputs(clean, as_of, horizon_days=horizon_days)
    return evidence_from_inputs(labels, inputs, as_of, thresholds,
                                guest_id_range=guest_id_range, random_state=random_state)


def evidence_from_inputs(
    labels: pd.DataFrame,
    inputs: ReportInputs | None,
    as_of: dt.date,
    thresholds: dict,
    *,
    guest_id_range: tuple[int, int] | None = None,
    random_state: int = 42,
) -> dict | None:
    """:func:`forecast_evidence` from per-customer figures (:mod:`pipeline.report_inputs`)."""
    if inputs is None:
        return None
    horizon_days = inputs.horizon_days
    data = inputs.check
    if data is None:
        return {"unavailable": f"the data do not hold {horizon_days} days of purchases after "
                               "some history to fit on"}
    fit_day = data.fit_day
    model = ForwardModel(guest_id_range=guest_id_range, random_state=random_state)
    try:
        check = check_summary(data.rfm, data.spends, fit_day, horizon_days=horizon_days,
                              top_share=TOP_SHARE, model=model)
    except PipelineInputError as error:
        return {"unavailable": str(error)}
    actual = check.per_customer["actual"]
    if fit_day == as_of or data.entry_features is None:
        members = labels["is_insiders"].astype(bool)
        group = "the Insiders of this run"
    else:
        members = meets_entry(data.entry_features, thresholds)
        group = f"the customers who met the entry levels on {fit_day.isoformat()}"
    inside = members.reindex(actual.index).fillna(False).to_numpy(dtype=bool)
    total = float(actual.sum())
    return {
        "fit_as_of": fit_day.isoformat(),
        "window_start": (fit_day + dt.timedelta(days=1)).isoformat(),
        "window_end": (fit_day + dt.timedelta(days=horizon_days)).isoformat(),
        "horizon_days": horizon_days,
        "n_customers": len(actual),
        **({} if data.sample is None else
           {"sample": {"every": data.sample[0], "customers": data.sample[1]}}),
        "actual_total": total,
        "top_share": TOP_SHARE,
        "predictors": {name: row for name, row in check.metrics.to_dict("index").items()},
        "insiders": {
            "group": group,
            "customers": int(inside.sum()),
            "customer_share": float(inside.mean()) if len(inside) else 0.0,
            "capture": float(actual.to_numpy()[inside].sum() / total) if total > 0 else 0.0,
        },
        "calibration": check.calibration.to_dict("records"),
        "fit_seconds": round(check.fit_seconds, 3),
    }


def _sample_words(sample: dict | None) -> str:
    """How the checked customers were chosen, when not all of them were."""
    if not sample:
        return ""
    return (f" (a sample: one customer number in {sample['every']:,} of the "
            f"{sample['customers']:,} customers)")


def forecast_lines(result: dict | None) -> list[str]:
    """The check for people (Markdown), the last part of question 7."""
    head = "**Looking ahead: does the forecast see next quarter's spend?**"
    if result is None:  # no transactions given, or a report from before the check
        return []
    if "unavailable" in result:
        return [head, f"No forecast check: {result['unavailable']}."]
    share = f"{result['top_share']:.0%}"
    insiders = result["insiders"]
    lines = [
        head,
        "",
        f"Fitted on purchases up to {result['fit_as_of']}, compared with what "
        f"{result['n_customers']:,} customers{_sample_words(result.get('sample'))} spent from "
        f"{result['window_start']} to {result['window_end']} "
        f"({result['actual_total']:,.0f} in all).",
        "",
        f"| Prediction | Mean absolute error | Rank correlation | Top {share} capture "
        "| Predicted total |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in result["predictors"].items():
        lines.append(
            f"| {PREDICTOR_LABELS.get(name, name)} | {row['mae']:,.2f} | {row['spearman']:.3f} "
            f"| {row['top_capture']:.1%} | {row['predicted_total']:,.0f} |")
    model = result["predictors"].get("model", {})
    lines += [
        "",
        f"For comparison, {insiders['group']} ({insiders['customers']:,} customers, "
        f"{insiders['customer_share']:.1%} of them) brought {insiders['capture']:.1%} of that "
        f"period's revenue; the top {share} by forecast brought "
        f"{model.get('top_capture', 0.0):.1%}.",
        "",
        _verdict(result["predictors"]),
    ]
    for note in STATISTIC_NOTES:
        lines += ["", note]
    return lines


def _verdict(predictors: dict) -> str:
    model = predictors.get("model")
    others = [row for name, row in predictors.items() if name != "model"]
    if model is None or not others:
        return ""
    closer = all(model["mae"] < row["mae"] for row in others)
    ranks = all(model["spearman"] > row["spearman"] for row in others)
    if closer and ranks:
        return ("The forecast beat both simple rules: it was closer to what customers spent "
                "and ranked them better.")
    if closer or ranks:
        which = "closer to what customers spent" if closer else "better at ranking customers"
        return f"The forecast was {which} than both simple rules, but not on every measure."
    return "The forecast did not beat the simple rules on this period."
