"""run_segmentation: fit or score a model version, membership, events, determinism."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from pipeline.clean import load_profile
from pipeline.columns import FEATURE_COLUMNS
from pipeline.ingest import validate_transactions
from pipeline.run import ModelState, run_segmentation
from pipeline.synthetic import generate_transactions

PROFILE = load_profile("online-retail")
FIRST, LATER = dt.date(2011, 9, 30), dt.date(2011, 11, 30)


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return validate_transactions(generate_transactions(500, seed=3)).transactions


@pytest.fixture(scope="module")
def first(transactions):
    calls = []
    result = run_segmentation(transactions, as_of=FIRST, profile=PROFILE, n_clusters=5,
                              progress=lambda stage, fraction: calls.append((stage, fraction)))
    return result, calls


def test_first_run_fits_version_one(first):
    result, calls = first
    assert result.refitted and result.state.version == 1
    assert result.state.fitted_as_of == FIRST
    assert list(result.labels.columns) == [
        "cluster", "is_insiders", "embedding_x", "embedding_y", *FEATURE_COLUMNS]
    assert result.labels.index.is_monotonic_increasing
    assert result.events.empty
    clusters = result.clusters
    assert clusters["name"].is_unique and clusters["color"].is_unique
    assert clusters.loc[clusters["is_insiders"], "name"].tolist() == ["Top spenders"]
    assert "Insiders" not in set(clusters["name"]) and "#d4a017" not in set(clusters["color"])
    assert set(result.labels["cluster"]) <= set(clusters["cluster"])
    metrics = result.metrics
    assert metrics["n_insiders"] == int(result.labels["is_insiders"].sum())
    assert {"clean", "features", "fit", "membership", "report"} <= set(metrics["seconds"])
    assert len(result.data_fingerprint) == 64
    json.dumps(metrics), json.dumps(result.report), json.dumps(result.state.summary())
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_scoring_keeps_the_version_and_membership(transactions, first):
    result, _ = first
    again = run_segmentation(transactions, as_of=FIRST, profile=PROFILE, n_clusters=5,
                             state=result.state, previous=result.labels)
    assert not again.refitted and again.state is result.state
    assert again.labels["is_insiders"].equals(result.labels["is_insiders"])
    assert again.labels["cluster"].equals(result.labels["cluster"])
    assert again.events.empty
    assert again.data_fingerprint == result.data_fingerprint


def test_shuffled_rows_give_identical_labels(transactions, first):
    result, _ = first
    shuffled = transactions.sample(frac=1.0, random_state=5)
    again = run_segmentation(shuffled, as_of=FIRST, profile=PROFILE, n_clusters=5)
    pd.testing.assert_frame_equal(again.labels, result.labels)
    assert again.data_fingerprint == result.data_fingerprint
    assert again.state.thresholds == result.state.thresholds


def test_later_refit_is_the_next_version_with_reasons(transactions, first):
    result, _ = first
    later = run_segmentation(transactions, as_of=LATER, profile=PROFILE, n_clusters=5,
                             state=result.state, previous=result.labels, refit=True)
    assert later.refitted and later.state.version == 2
    insiders = later.clusters.loc[later.clusters["is_insiders"]].iloc[0]
    assert insiders["name"] == "Top spenders" and insiders["color"] != "#d4a017"
    events = later.events
    assert len(events) > 0
    assert set(events["kind"]) <= {"entered", "exited"}
    assert set(events["cause"]) <= {"feature", "model_update", "new_customer"}
    assert events["reason"].str.len().gt(10).all()
    json.dumps(events["details"].tolist())
    changed = later.labels["is_insiders"].reindex(result.labels.index) != result.labels[
        "is_insiders"]
    moved = set(changed[changed].index) | set(
        later.labels.index[later.labels["is_insiders"]].difference(result.labels.index))
    assert set(events["customer_id"]) == moved
    key = b"test-artifact-key-of-32-bytes-ok"
    restored = ModelState.from_bytes(later.state.to_bytes(key), key)
    assert restored.summary() == later.state.summary()
    scored = restored.model.predict(later.labels[list(FEATURE_COLUMNS)])
    assert set(restored.stable_ids(scored)) <= set(later.clusters["cluster"])


def test_segment_state_dir_keeps_the_version_between_calls(tmp_path):
    from click.testing import CliRunner

    from cli import cli

    source = tmp_path / "transactions.csv"
    generate_transactions(300, seed=4).to_csv(source, index=False)
    state = tmp_path / "state"
    runner = CliRunner()

    def segment(*extra: str) -> dict:
        out = runner.invoke(cli, ["segment", str(source), "-o", str(tmp_path / "labels.csv"),
                                  "--state", str(state), *extra], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        return json.loads(out.output.strip().splitlines()[-1])

    first = segment("--as-of", "2011-10-31")
    assert (first["model_version"], first["refitted"]) == (1, True)
    scored = segment("--as-of", "2011-11-30")
    assert (scored["model_version"], scored["refitted"]) == (1, False)
    events = pd.read_csv(state / "events.csv")
    assert len(events) == scored["n_events"]
    assert events["reason"].notna().all()
    refit = segment("--as-of", "2011-11-30", "--refit")
    assert (refit["model_version"], refit["refitted"]) == (2, True)
    assert {p.name for p in state.iterdir()} >= {"model-v0001.bin", "model-v0002.bin",
                                                 "state.json", "labels.csv", "events.csv"}
    refused = runner.invoke(cli, ["segment", str(source), "-o", str(tmp_path / "x.csv"),
                                  "--refit"])
    assert refused.exit_code == 2 and "--refit needs --state" in refused.output
