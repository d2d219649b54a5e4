"""The looking-ahead settings: horizon, at-risk days and probability level, checked on load."""

from __future__ import annotations

import pytest

from settings import SettingsError, load_settings


def test_defaults():
    settings = load_settings({})
    assert settings.forecast_horizon_days == 90
    assert settings.at_risk_days == 30
    assert settings.at_risk_probability == 0.5


def test_values_are_read():
    settings = load_settings({"INSIDERS_FORECAST_HORIZON_DAYS": "180",
                              "INSIDERS_AT_RISK_DAYS": "14",
                              "INSIDERS_AT_RISK_PROBABILITY": "0"})
    assert (settings.forecast_horizon_days, settings.at_risk_days,
            settings.at_risk_probability) == (180, 14, 0.0)


@pytest.mark.parametrize("name, value", [
    ("INSIDERS_FORECAST_HORIZON_DAYS", "-1"), ("INSIDERS_FORECAST_HORIZON_DAYS", "ninety"),
    ("INSIDERS_AT_RISK_DAYS", "-5"), ("INSIDERS_AT_RISK_PROBABILITY", "1.5"),
    ("INSIDERS_AT_RISK_PROBABILITY", "half"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
