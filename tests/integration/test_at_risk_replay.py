"""Insiders at risk, replayed on the real data month by month (issue 13's acceptance): a run on the
first day of each month from June to December 2011 lists the Insiders who leave within 30 days if
they buy nothing; every one of them who then bought nothing left on the stated day.

Pipeline level (about 25 s on two cores, 10 of them the one model fit): the first model version (the
only UMAP fit) gives the thresholds, as a run scoring with that version keeps them; membership moves
month to month by those thresholds with hysteresis, and each month's forecast is the run's own
(:func:`pipeline.run_forecast.run_forecast`). Each listed customer is then followed day by day on
their own rows up to the stated day. Prints how many listed at risk bought and stayed, and how many
of those listed as about to qualify joined within the 30 days (benchmarks/RESULTS.md, "At-risk
replay").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import clean_transactions, load_profile
from pipeline.features import customer_features
from pipeline.ingest import read_transactions
from pipeline.membership import assign_membership
from pipeline.run import run_segmentation
from pipeline.run_forecast import ForecastSettings, run_forecast

pytestmark = pytest.mark.realdata

PROFILE = load_profile("online-retail")
MONTHS = [dt.date(2011, m, 1) for m in range(6, 13)]
WITHIN = 30


@pytest.fixture(scope="module")
def replay(real_data_path):
    rows = read_transactions(real_data_path).transactions
    cleaned = clean_transactions(rows, PROFILE)
    clean = cleaned.transactions
    last_day = clean["invoice_date"].max().date()
    first = run_segmentation(rows, as_of=MONTHS[0], profile=PROFILE)
    thresholds = first.state.thresholds
    was = first.labels["is_insiders"].astype(bool)
    day_of = clean["invoice_date"].to_numpy().astype("datetime64[D]")
    bought = clean["quantity"].to_numpy() > 0
    tally = {"listed": 0, "listed_leaving": 0, "checked": 0, "left_on_day": 0, "left_early": [],
             "stayed_without_buying": [], "bought": 0, "bought_and_stayed": 0,
             "beyond_data": 0, "only_unlikely_active": 0, "qualify_listed": 0,
             "qualify_joined": 0}
    for as_of in MONTHS:
        features = customer_features(clean, as_of)
        membership = assign_membership(features, thresholds, was)
        ahead = run_forecast(clean, features, membership, thresholds, as_of, params=None,
                             guest_id_range=cleaned.guest_id_range,
                             settings=ForecastSettings(at_risk_days=WITHIN))
        frame = ahead.frame
        listed = frame.index[frame["at_risk_reason"].notna()]
        leaving = frame.loc[frame["at_risk_on"].notna(), "at_risk_on"]
        tally["listed"] += len(listed)
        tally["listed_leaving"] += len(leaving)
        tally["only_unlikely_active"] += len(listed) - len(leaving)
        assert membership.reindex(listed).all(), "only Insiders are listed at risk"
        for customer, leave in leaving.items():
            assert as_of < leave <= as_of + dt.timedelta(days=WITHIN)
            if leave > last_day:
                tally["beyond_data"] += 1
                continue
            mine = (clean["customer_id"].to_numpy() == customer)
            window = (day_of > np.datetime64(as_of)) & (day_of <= np.datetime64(leave))
            if (mine & window & bought).any():
                tally["bought"] += 1
                on_leave = _member_on(clean.loc[mine], thresholds, as_of, leave)
                tally["bought_and_stayed"] += int(on_leave[leave])
                continue
            tally["checked"] += 1
            daily = _member_on(clean.loc[mine], thresholds, as_of, leave)
            if not daily[leave] and all(daily[d] for d in daily if d < leave):
                tally["left_on_day"] += 1
            elif not all(daily[d] for d in daily if d < leave):
                tally["left_early"].append((as_of, customer, leave))
            else:
                tally["stayed_without_buying"].append((as_of, customer, leave))
        coming = frame.index[frame["qualify_reason"].notna()]
        later = as_of + dt.timedelta(days=WITHIN)
        if later <= last_day and len(coming):
            then = customer_features(clean, later)
            joined = assign_membership(then, thresholds, membership.reindex(then.index))
            tally["qualify_listed"] += len(coming)
            tally["qualify_joined"] += int(joined.reindex(coming).fillna(False).sum())
        was = membership
    return tally


def _member_on(rows: pd.DataFrame, thresholds: dict, as_of: dt.date,
               leave: dt.date) -> dict[dt.date, bool]:
    """One Insider's membership each day from the day after ``as_of`` to ``leave``, by the
    thresholds with hysteresis (an Insider on ``as_of``)."""
    customer = rows["customer_id"].iloc[0]
    was = pd.Series([True], index=pd.Index([customer], name="customer_id"))
    out = {}
    day = as_of
    while day < leave:
        day += dt.timedelta(days=1)
        now = assign_membership(customer_features(rows, day), thresholds, was)
        out[day] = bool(now.loc[customer])
        was = now
    return out


def test_insiders_listed_at_risk_who_buy_nothing_leave_on_the_stated_day(replay):
    print(f"\nat-risk replay {MONTHS[0]} to {MONTHS[-1]}, {WITHIN} days: {replay}")
    assert replay["listed_leaving"] > 0 and replay["checked"] > 0
    assert replay["left_early"] == [] and replay["stayed_without_buying"] == []
    assert replay["left_on_day"] == replay["checked"]
    assert replay["checked"] + replay["bought"] + replay["beyond_data"] \
        == replay["listed_leaving"]
    # a purchase before the stated day keeps an Insider (recency starts again)
    assert replay["bought_and_stayed"] == replay["bought"]
