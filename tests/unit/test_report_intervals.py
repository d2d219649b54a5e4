"""Question 7's intervals: the bootstrap for small groups, the normal interval for large ones, and
what the report says about which it used."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline import report_intervals
from pipeline.columns import FEATURE_COLUMNS
from pipeline.report import BOOTSTRAP_NOTE, build_report
from pipeline.report_inputs import ReportInputs
from pipeline.report_intervals import (
    BOOTSTRAP,
    BOOTSTRAP_UP_TO,
    NORMAL,
    bootstrap_mean_ci,
    mean_ci,
    normal_mean_ci,
)

AS_OF = dt.date(2011, 9, 9)
THRESHOLDS = {
    "entry": {"gross_revenue": {"op": ">=", "value": 2000.0}},
    "exit": {"gross_revenue": {"op": "<", "value": 1500.0}},
}


@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_normal_interval_agrees_with_a_full_bootstrap(sigma: float) -> None:
    """Above the bootstrap's limit the normal interval is the bootstrap's, up to its own random
    error: both ends within 6% of the interval's half-width, on skewed spends (lognormal)."""
    values = np.random.default_rng(11).lognormal(5.0, sigma, 3 * BOOTSTRAP_UP_TO)
    low, high = normal_mean_ci(values)
    boot_low, boot_high = bootstrap_mean_ci(values, np.random.default_rng(5))
    half = (high - low) / 2
    assert low < values.mean() < high
    assert half == pytest.approx(1.96 * values.std(ddof=1) / np.sqrt(values.size), rel=1e-3)
    assert abs(low - boot_low) < 0.06 * half
    assert abs(high - boot_high) < 0.06 * half


def test_which_interval_by_group_size() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, BOOTSTRAP_UP_TO + 1)
    draws = np.random.default_rng(1)
    _, kind = mean_ci(values[:BOOTSTRAP_UP_TO], draws)
    assert kind == BOOTSTRAP
    before = draws.bit_generator.state
    interval, kind = mean_ci(values, draws)
    assert kind == NORMAL and interval == normal_mean_ci(values)
    assert draws.bit_generator.state == before  # the normal interval draws nothing
    assert mean_ci(values[:100], np.random.default_rng(3), up_to=50)[1] == NORMAL
    assert mean_ci(values[:100], np.random.default_rng(3), up_to=100) == (
        bootstrap_mean_ci(values[:100], np.random.default_rng(3)), BOOTSTRAP)
    assert np.isnan(normal_mean_ci(values[:1])).all()


def _labels(n: int, share: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(6.0, 1.0, n)
    invoices = rng.poisson(4, n) + 1
    frame = pd.DataFrame({
        "cluster": rng.integers(0, 4, n), "is_insiders": revenue >= np.quantile(revenue, 1 - share),
        "embedding_x": 0.0, "embedding_y": 0.0, "gross_revenue": revenue,
        "recency_days": rng.integers(0, 300, n), "invoice_quantity": invoices,
        "items_quantity": invoices * 20, "products_quantity": invoices * 5,
        "avg_ticket": revenue / invoices,
    }, index=pd.Index(np.arange(1, n + 1), name="customer_id"))
    return frame[["cluster", "is_insiders", "embedding_x", "embedding_y", *FEATURE_COLUMNS]]


def _report(labels: pd.DataFrame):
    """The report without its forecast check (made by a job of its own in a partitioned run)."""
    made = build_report(labels, as_of=AS_OF, thresholds=THRESHOLDS, forecast={},
                        inputs=_inputs(labels))
    made.forecast = None
    return made


def _inputs(labels: pd.DataFrame) -> ReportInputs:
    ids = labels.index[::3]
    after = pd.Series(np.where(labels.loc[ids, "is_insiders"], 80.0, 20.0), index=ids)
    return ReportInputs(last_day=AS_OF + dt.timedelta(days=90), after=after, check=None,
                        horizon_days=90)


def test_a_large_group_has_the_normal_interval_and_the_report_says_so() -> None:
    labels = _labels(BOOTSTRAP_UP_TO + 5_000, share=0.1)
    report = _report(labels)
    rest = labels.loc[~labels["is_insiders"], "gross_revenue"].to_numpy()
    evidence = report.evidence["gross_revenue"]
    assert evidence["intervals"] == {"insiders": BOOTSTRAP, "rest": NORMAL}
    assert evidence["rest_ci95"] == list(normal_mean_ci(rest))
    assert report.out_of_time["spend"]["intervals"] == {"insiders": BOOTSTRAP, "rest": NORMAL}
    assert report.to_dict()["evidence"]["gross_revenue"]["intervals"]["rest"] == NORMAL
    text = report.to_markdown()
    assert BOOTSTRAP_NOTE not in text
    assert "Mean per customer with 95% confidence intervals:" in text
    insiders, others = report.n_insiders, report.n_customers - report.n_insiders
    assert f"For the Insiders ({insiders:,} customers) it is found by re-drawing" in text
    assert f"For the other customers ({others:,} customers), more than 20,000 customers" in text
    assert "1.96 standard errors" in text


def test_a_small_report_is_the_bootstrap_report_it_was(monkeypatch) -> None:
    """Groups under the limit: no ``intervals`` key, the bootstrap note, and the very report a
    limit no group reaches gives (the bootstrap for every group, as before the limit)."""
    labels = _labels(3_000, share=0.07, seed=4)
    made = _report(labels)
    assert "intervals" not in made.evidence["gross_revenue"]
    assert "intervals" not in made.out_of_time["spend"]
    assert "Mean per customer with bootstrap 95% confidence intervals:" in made.to_markdown()
    assert BOOTSTRAP_NOTE in made.to_markdown()
    monkeypatch.setattr(report_intervals, "BOOTSTRAP_UP_TO", 10**12)
    always = _report(labels)
    assert always.to_dict() == made.to_dict()
    assert always.to_markdown() == made.to_markdown()
    monkeypatch.setattr(report_intervals, "BOOTSTRAP_UP_TO", 100)
    both = _report(labels)
    assert both.evidence["avg_ticket"]["intervals"] == {"insiders": NORMAL, "rest": NORMAL}
    assert "re-drawing the customers" not in both.to_markdown()
    assert "For the Insiders (210 customers) and the other customers" in both.to_markdown()
