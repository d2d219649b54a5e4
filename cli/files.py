"""The pipeline on files: features, segment, report and select (file in, file out, no database)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd

from pipeline.clean import clean_transactions, load_profile
from pipeline.errors import PipelineInputError
from pipeline.exports import insiders_table, to_csv
from pipeline.features import customer_features, resolve_as_of
from pipeline.ingest import read_transactions
from pipeline.model_state import ModelState, load_state_dir, save_state_dir
from pipeline.progress import StageProgress
from pipeline.run import RunResult, run_segmentation
from pipeline.run_forecast import ForecastSettings
from pipeline.selection import select_models
from settings import load_settings

DEFAULT_PROFILE = "online-retail"

input_argument = click.argument(
    "input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path)
)
profile_option = click.option(
    "--profile",
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Cleaning profile: a built-in name (online-retail, default) or a JSON/YAML file.",
)
as_of_option = click.option(
    "--as-of", "as_of", metavar="YYYY-MM-DD", help="Observation date (default: last invoice day)."
)
seed_option = click.option("--seed", default=42, show_default=True, help="Random seed.")
file_type = click.Path(dir_okay=False, path_type=Path)


@dataclass
class Prepared:
    """Cleaned transactions and features as of a date."""

    clean: pd.DataFrame
    features: pd.DataFrame
    as_of: dt.date
    cleaning: dict
    guest_id_range: tuple[int, int] | None = None


def parse_as_of(value: str | None) -> dt.date | None:
    """``--as-of`` as a date; an unparseable value is a user error."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise PipelineInputError(f"--as-of {value!r} is not a date (YYYY-MM-DD)") from exc


def prepare(
    input_path: Path,
    *,
    profile: str,
    as_of: str | None,
    stages: StageProgress,
    rejects: Path | None = None,
) -> Prepared:
    """Ingest, clean and compute features, timing each stage."""
    as_of_date = parse_as_of(as_of)
    cleaning_profile = load_profile(profile)  # fail on a bad profile before reading the file
    with stages.stage("ingest"):
        ingested = read_transactions(input_path)
        if rejects is not None:
            ingested.write_rejects(rejects)
    with stages.stage("clean"):
        cleaned = clean_transactions(ingested.transactions, cleaning_profile)
    with stages.stage("features"):
        as_of_date = resolve_as_of(cleaned.transactions, as_of_date)
        features = customer_features(cleaned.transactions, as_of_date)
    return Prepared(cleaned.transactions, features, as_of_date, dict(cleaned.dropped_by_reason),
                    cleaned.guest_id_range)


def segment_file(
    input_path: Path,
    *,
    profile: str,
    as_of: str | None,
    seed: int,
    stages: StageProgress,
    state: ModelState | None = None,
    previous: pd.DataFrame | None = None,
    refit: bool = False,
    forecast: ForecastSettings | None = None,
) -> RunResult:
    """The run the worker makes, on INPUT: without ``state`` it fits a first model version, so
    its Insiders and thresholds are those a worker's first run would find for the same data.
    With ``forecast`` it also looks ahead, as a worker run does."""
    as_of_date = parse_as_of(as_of)
    cleaning_profile = load_profile(profile)  # fail on a bad profile before reading the file
    with stages.stage("ingest"):
        transactions = read_transactions(input_path).transactions
    with stages.stage("segment"):
        return run_segmentation(transactions, as_of=as_of_date, profile=cleaning_profile,
                                random_state=seed, state=state, previous=previous,
                                refit=refit, progress=stages, forecast=forecast)


def forecast_settings() -> ForecastSettings:
    """How far a run looks ahead, from the INSIDERS_* settings (as the worker reads them)."""
    settings = load_settings()
    return ForecastSettings(horizon_days=settings.forecast_horizon_days,
                            at_risk_days=settings.at_risk_days,
                            at_risk_probability=settings.at_risk_probability)


def labels_csv_frame(labels: pd.DataFrame) -> pd.DataFrame:
    """The labels frame with customer_id as the first column, as written by ``segment``."""
    return labels.rename_axis("customer_id").reset_index()


@click.command("features")
@input_argument
@click.option("-o", "--output", type=file_type, required=True)
@profile_option
@as_of_option
@click.option("--rejects", type=file_type, help="Write rejected rows to this CSV.")
def features_command(
    input_path: Path, output: Path, profile: str, as_of: str | None, rejects: Path | None
) -> None:
    """Compute per-customer features of INPUT as of a date and write them as CSV."""
    stages = StageProgress()
    prepared = prepare(input_path, profile=profile, as_of=as_of, stages=stages, rejects=rejects)
    prepared.features.rename_axis("customer_id").reset_index().to_csv(output, index=False)
    click.echo(json.dumps({"n_customers": len(prepared.features), "as_of": str(prepared.as_of)}))


@click.command("segment")
@input_argument
@click.option("-o", "--output", type=file_type, required=True)
@profile_option
@as_of_option
@seed_option
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the model version and membership here between calls: the first call "
                   "fits, later calls score with it (Insiders with hysteresis and reasons).")
@click.option("--refit", is_flag=True, help="With --state: fit a new model version.")
def segment_command(
    input_path: Path, output: Path, profile: str, as_of: str | None, seed: int,
    state_dir: Path | None, refit: bool,
) -> None:
    """Segment the customers of INPUT and write their clusters and Insiders flag as CSV."""

    if refit and state_dir is None:
        raise click.UsageError("--refit needs --state DIR")
    stages = StageProgress()
    key = b"" if state_dir is None else load_settings().model_artifact_key()
    state, previous = (None, None) if state_dir is None else load_state_dir(state_dir, key=key)
    result = segment_file(input_path, profile=profile, as_of=as_of, seed=seed, stages=stages,
                          state=state, previous=previous, refit=refit)
    labels_csv_frame(result.labels).to_csv(output, index=False)
    metrics = result.metrics
    summary = {
        "n_customers": metrics["n_customers"], "n_insiders": metrics["n_insiders"],
        "insiders_share": metrics["insiders_share"],
        "insiders_revenue_share": metrics["revenue_share"], "silhouette": metrics["silhouette"],
        "as_of": metrics["as_of"],
    }
    if state_dir is not None:
        # the events (who entered or left, and why) are kept beside the state as events.csv
        save_state_dir(state_dir, result.state, result.labels, result.events, key=key)
        summary.update(model_version=result.state.version, refitted=result.refitted,
                       n_events=metrics["n_events"], events=metrics["events"])
    summary["seconds"] = {**stages.rounded_seconds(), **metrics["seconds"]}
    click.echo(json.dumps(summary))


@click.command("report")
@input_argument
@profile_option
@as_of_option
@seed_option
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("-o", "--output", type=file_type, help="Write the report here (default: stdout).")
@click.option("--insiders-csv", type=file_type,
              help="Write the Insiders as CSV (the dashboard's columns: id, cluster, features, "
                   "chance of being active, expected purchases and spend, at-risk date and why).")
def report_command(
    input_path: Path,
    profile: str,
    as_of: str | None,
    seed: int,
    fmt: str,
    output: Path | None,
    insiders_csv: Path | None,
) -> None:
    """Answer the seven questions about the Insiders of INPUT (Markdown or JSON), for the
    first model version a worker run would fit on the same data."""

    stages = StageProgress()
    # looking ahead as the worker does: the same report, and the CSV's forecast columns
    result = segment_file(input_path, profile=profile, as_of=as_of, seed=seed, stages=stages,
                          forecast=forecast_settings())
    report = result.answers
    names = dict(zip(result.clusters["cluster"], result.clusters["name"], strict=True))
    text = report.to_markdown(names) if fmt == "md" else json.dumps(report.to_dict(), indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    if insiders_csv is not None:
        table = insiders_table(result.labels, as_of=report.as_of, cluster_names=names,
                               forecasts=result.forecasts)
        insiders_csv.write_text(to_csv(table), encoding="utf-8")


@click.command("select")
@input_argument
@profile_option
@as_of_option
@seed_option
@click.option("--k-min", default=2, show_default=True)
@click.option("--k-max", default=12, show_default=True)
def select_command(
    input_path: Path, profile: str, as_of: str | None, seed: int, k_min: int, k_max: int
) -> None:
    """Compare clustering algorithms on the embedding of INPUT's customers by silhouette."""

    stages = StageProgress()
    prepared = prepare(input_path, profile=profile, as_of=as_of, stages=stages)
    with stages.stage("select"):
        table = select_models(
            prepared.features, k_range=range(k_min, k_max + 1), random_state=seed, progress=stages
        )
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


COMMANDS: list[click.Command] = [features_command, segment_command, report_command, select_command]
