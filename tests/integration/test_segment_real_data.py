"""One cold `insiders segment` on the real Online Retail data: is the segmentation sane?"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def segmented(real_data_path: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("segment") / "labels.csv"
    result = CliRunner().invoke(
        cli, ["segment", str(real_data_path), "-o", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), pd.read_csv(out)


def test_summary_is_sane(segmented) -> None:
    summary, labels = segmented
    assert summary["n_customers"] == len(labels) == 5695
    assert labels["cluster"].nunique() == 7
    assert 0.02 <= summary["insiders_share"] <= 0.25
    assert summary["insiders_revenue_share"] > summary["insiders_share"]
    assert summary["silhouette"] > 0


def test_insiders_are_members_mostly_of_the_richest_cluster(segmented) -> None:
    """The Insiders meet the entry levels read off the richest cluster: most of them are in
    it, and they are a few percent of customers, not the whole cluster."""
    _, labels = segmented
    richest = labels.groupby("cluster")["gross_revenue"].mean().idxmax()
    insiders = labels[labels["is_insiders"]]
    assert insiders["cluster"].value_counts().idxmax() == richest
    assert 0.05 <= len(insiders) / len(labels) <= 0.15
