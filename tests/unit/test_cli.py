"""The pipeline commands, file in and file out, on a small synthetic transactions file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli, main
from pipeline.clean import load_profile
from pipeline.columns import FEATURE_COLUMNS
from pipeline.exports import FORECAST_COLUMNS as EXPORT_FORECASTS
from pipeline.exports import insiders_table, to_csv
from pipeline.ingest import validate_transactions
from pipeline.run import run_segmentation
from pipeline.run_forecast import ForecastSettings
from pipeline.synthetic import generate_transactions

LABEL_COLUMNS = ["customer_id", "cluster", "is_insiders", "embedding_x", "embedding_y"]


@pytest.fixture(scope="module")
def transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "transactions.parquet"
    generate_transactions(250, seed=3).to_parquet(path, index=False)
    return path


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_features_writes_the_six_features_first(transactions: Path, tmp_path: Path) -> None:
    out, rejects = tmp_path / "features.csv", tmp_path / "rejects.csv"
    printed = invoke(
        "features",
        str(transactions),
        "-o",
        str(out),
        "--as-of",
        "2011-09-30",
        "--rejects",
        str(rejects),
    )
    frame = pd.read_csv(out)
    assert list(frame.columns[:7]) == ["customer_id", *FEATURE_COLUMNS]
    assert frame["customer_id"].is_unique and len(frame) > 100
    assert json.loads(printed) == {"n_customers": len(frame), "as_of": "2011-09-30"}
    assert rejects.exists()


def test_segment_writes_labels_and_one_json_line(transactions: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    printed = invoke("segment", str(transactions), "-o", str(out), "--seed", "3")
    frame = pd.read_csv(out)
    assert list(frame.columns[:11]) == [*LABEL_COLUMNS, *FEATURE_COLUMNS]
    assert frame["cluster"].nunique() == 7
    lines = printed.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["n_customers"] == len(frame)
    assert summary["n_insiders"] == frame["is_insiders"].sum()
    assert {"ingest", "clean", "features", "fit", "membership"} <= set(summary["seconds"])
    assert 0 < summary["insiders_share"] < 1 and -1 <= summary["silhouette"] <= 1


def test_segment_report_and_a_first_run_name_the_same_insiders(
    transactions: Path, tmp_path: Path
) -> None:
    """One rule: segment (with or without --state) and report give a first model version's
    members and thresholds, as a worker run on the same data would."""
    run = run_segmentation(validate_transactions(pd.read_parquet(transactions)).transactions,
                           as_of="2011-08-31", profile=load_profile("online-retail"),
                           random_state=3)
    expected = run.labels.index[run.labels["is_insiders"]].tolist()
    for extra in ([], ["--state", str(tmp_path / "state")]):
        out = tmp_path / "labels.csv"
        invoke("segment", str(transactions), "-o", str(out), "--as-of", "2011-08-31",
               "--seed", "3", *extra)
        frame = pd.read_csv(out)
        assert frame.loc[frame["is_insiders"], "customer_id"].tolist() == expected
    report = tmp_path / "report.json"
    invoke("report", str(transactions), "--as-of", "2011-08-31", "--seed", "3",
           "--format", "json", "-o", str(report))
    data = json.loads(report.read_text())
    assert data["insiders_ids"] == expected
    assert data["thresholds"] == run.state.thresholds
    assert len(expected) < len(run.labels) * 0.15


def test_report_markdown_json_and_ids(transactions: Path, tmp_path: Path) -> None:
    ids = tmp_path / "insiders.csv"
    markdown = invoke(
        "report", str(transactions), "--as-of", "2011-08-31", "--insiders-csv", str(ids)
    )
    assert "## 7. Evidence" in markdown and "Out-of-time check, 2011-09-01" in markdown
    out = tmp_path / "report.json"
    invoke("report", str(transactions), "--as-of", "2011-08-31", "--format", "json", "-o", str(out))
    data = json.loads(out.read_text())
    table = pd.read_csv(ids)
    assert sorted(table["customer_id"]) == data["insiders_ids"]
    assert table["gross_revenue"].is_monotonic_decreasing and "cluster_name" in table
    assert all(pd.api.types.is_numeric_dtype(table[c]) for c in ("gross_revenue", "avg_ticket"))
    assert "| Top spenders |" in markdown and "gross_revenue" not in markdown
    assert data["out_of_time"]["days_covered"] == 90


def test_report_insiders_csv_carries_the_forecast_columns(transactions: Path,
                                                          tmp_path: Path) -> None:
    """The file-only Insiders CSV has the dashboard's and the API's forecast columns, built by
    the same table builder from a run that looks ahead as a worker run does."""
    ids = tmp_path / "insiders.csv"
    invoke("report", str(transactions), "--as-of", "2011-08-31", "--seed", "3",
           "--insiders-csv", str(ids))
    run = run_segmentation(validate_transactions(pd.read_parquet(transactions)).transactions,
                           as_of="2011-08-31", profile=load_profile("online-retail"),
                           random_state=3, forecast=ForecastSettings())
    names = dict(zip(run.clusters["cluster"], run.clusters["name"], strict=True))
    dashboard = insiders_table(run.labels, as_of="2011-08-31", run_id=1, cluster_names=names,
                               forecasts=run.forecasts)
    written = pd.read_csv(ids)
    assert list(written.columns) == [c for c in dashboard.columns if c != "run_id"]
    assert list(written.columns[-len(EXPORT_FORECASTS):]) == list(EXPORT_FORECASTS)
    expected = pd.read_csv(io.StringIO(to_csv(dashboard.drop(columns="run_id"))))
    pd.testing.assert_frame_equal(written, expected)
    assert written[["p_active", "expected_purchases", "expected_spend"]].notna().all().all()
    assert written["p_active"].between(0, 1).all()
    assert written["at_risk_reason"].notna().sum() \
        == run.forecasts.loc[run.labels["is_insiders"], "at_risk_reason"].notna().sum()


def test_select_prints_a_table(transactions: Path) -> None:
    printed = invoke("select", str(transactions), "--k-min", "2", "--k-max", "4")
    assert printed.splitlines()[0].split()[:2] == ["algorithm", "k"]
    for algorithm in ("kmeans", "gmm", "agglomerative", "dbscan"):
        assert algorithm in printed


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--as-of", "31/12/2011", "--as-of '31/12/2011' is not a date"),
        ("--profile", "nope", "nope"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    transactions: Path, tmp_path: Path, capsys, option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", str(transactions), "-o", str(tmp_path / "x.csv"), option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_missing_input_is_exit_2(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["features", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "f.csv")])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
