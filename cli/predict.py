"""``insiders predict``: per customer, the chance of still being an active customer and the
expected purchases and spend in the next days, from INPUT alone (no database)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cli.files import as_of_option, file_type, input_argument, prepare, profile_option
from pipeline.progress import StageProgress
from pipeline.run_forecast import fit_forward_model, predict_customers
from settings import load_settings

PREDICTION_COLUMNS = ("customer_id", "p_active", "expected_purchases", "expected_spend")


@click.command("predict")
@input_argument
@click.option("-o", "--output", type=file_type, required=True)
@profile_option
@as_of_option
@click.option("--horizon-days", type=click.IntRange(min=0), default=None,
              help="Days ahead to predict (default: INSIDERS_FORECAST_HORIZON_DAYS, 90).")
@click.option("--seed", default=42, show_default=True,
              help="Random seed (the sample the model is fitted on, above 50,000 customers).")
def predict_command(
    input_path: Path, output: Path, profile: str, as_of: str | None, horizon_days: int | None,
    seed: int,
) -> None:
    """Predict, for each customer of INPUT as of a date, the chance they are still an active
    customer and their expected purchases and spend in the next days; write them as CSV."""
    horizon = load_settings().forecast_horizon_days if horizon_days is None else horizon_days
    stages = StageProgress()
    prepared = prepare(input_path, profile=profile, as_of=as_of, stages=stages)
    # the customers `insiders features` lists on this date, in its order
    customers, as_of_date = prepared.features.index, prepared.as_of
    with stages.stage("fit"):
        started = time.perf_counter()
        params = fit_forward_model(prepared.clean, as_of_date,
                                   guest_id_range=prepared.guest_id_range, random_state=seed)
        fit_seconds = time.perf_counter() - started
    with stages.stage("predict"):
        (ahead,) = predict_customers(prepared.clean, customers, as_of_date, params,
                                     (horizon,))
    table = ahead.rename(columns={"probability_active": "p_active"})
    table = table.rename_axis("customer_id").reset_index().loc[:, list(PREDICTION_COLUMNS)]
    table.to_csv(output, index=False)
    click.echo(json.dumps({
        "n_customers": len(table), "as_of": str(as_of_date), "horizon_days": horizon,
        "n_fit_customers": params["n_fit_customers"], "fit_seconds": round(fit_seconds, 2),
        "expected_spend": round(float(table["expected_spend"].sum()), 2),
    }))
