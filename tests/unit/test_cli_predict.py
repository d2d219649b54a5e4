"""``insiders predict``: one row per customer `insiders features` lists on the same date, the
forward model's predictions for the horizon, plain errors for bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli, main
from pipeline.clean import clean_transactions, load_profile
from pipeline.forecast import ForwardModel
from pipeline.ingest import read_transactions
from pipeline.synthetic import generate_transactions

AS_OF = "2011-09-30"


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predict") / "transactions.parquet"
    generate_transactions(300, seed=4).to_parquet(path, index=False)
    return path


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_predict_lists_the_features_customers_with_their_predictions(transactions, tmp_path):
    out, features = tmp_path / "predictions.csv", tmp_path / "features.csv"
    printed = json.loads(invoke("predict", str(transactions), "--as-of", AS_OF, "-o", str(out),
                                "--horizon-days", "60"))
    invoke("features", str(transactions), "--as-of", AS_OF, "-o", str(features))
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["customer_id", "p_active", "expected_purchases",
                                   "expected_spend"]
    assert frame["customer_id"].tolist() == pd.read_csv(features)["customer_id"].tolist()
    for column in ("p_active", "expected_purchases", "expected_spend"):
        assert pd.api.types.is_float_dtype(frame[column])
    assert frame["p_active"].between(0, 1).all() and (frame["expected_spend"] >= 0).all()
    assert printed["as_of"] == AS_OF and printed["horizon_days"] == 60
    assert printed["n_customers"] == len(frame)

    cleaned = clean_transactions(read_transactions(transactions).transactions,
                                 load_profile("online-retail"))
    model = ForwardModel(guest_id_range=cleaned.guest_id_range).fit(
        cleaned.transactions, dt.date.fromisoformat(AS_OF))
    expected = model.predict(60)  # guests are left out of the fit, not of the predictions
    got = frame.set_index("customer_id").loc[expected.index]
    np.testing.assert_allclose(got["expected_spend"], expected["expected_spend"], rtol=1e-9)


def test_the_horizon_changes_the_expectation_not_the_probability(transactions, tmp_path):
    short, long = tmp_path / "short.csv", tmp_path / "long.csv"
    invoke("predict", str(transactions), "--as-of", AS_OF, "-o", str(short),
           "--horizon-days", "30")
    invoke("predict", str(transactions), "--as-of", AS_OF, "-o", str(long))
    a, b = pd.read_csv(short), pd.read_csv(long)
    np.testing.assert_allclose(a["p_active"], b["p_active"])
    assert (b["expected_purchases"] >= a["expected_purchases"] - 1e-12).all()
    assert b["expected_purchases"].sum() > a["expected_purchases"].sum()


def test_without_as_of_the_last_invoice_day_is_used(transactions, tmp_path):
    out = tmp_path / "p.csv"
    printed = json.loads(invoke("predict", str(transactions), "-o", str(out)))
    last = pd.read_parquet(transactions)["InvoiceDate"].max()
    assert printed["as_of"] == str(pd.Timestamp(last).date())


def test_a_bad_date_is_one_line_and_exit_code_2(transactions, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(transactions), "--as-of", "30/09/2011", "-o",
              str(tmp_path / "p.csv")])
    assert exit_info.value.code == 2
    assert "--as-of '30/09/2011' is not a date" in capsys.readouterr().err
