"""The report page and the download show the pipeline's own Markdown, section by section."""

from __future__ import annotations

from datetime import date

import numpy as np

from dashboard.report_text import answers, report_markdown
from tests.dashboard_seed import _features, _labels, _report


def _stored_report() -> dict:
    rng = np.random.default_rng(1)
    return _report(_labels(1, _features(rng, 1), set()), date(2011, 9, 30))


def test_the_seven_answers_are_the_sections_of_the_pipelines_markdown():
    report = _stored_report()
    markdown = report_markdown(report)
    assert markdown.startswith("# Insiders report as of 2011-09-30")
    items = answers(report)
    assert len(items) == 7
    assert [item["chart"] for item in items] == [None, None, "distinctive", "revenue", None,
                                                  None, "evidence"]
    assert items[1]["answer"].startswith(f"{report['n_insiders']} of")
    assert "Gross revenue at least 3,000.00" in items[4]["answer"]
    for number, item in enumerate(items, start=1):
        assert f"## {number}. {item['question']}" in markdown
        assert item["answer"] in markdown


def test_no_report_or_an_unreadable_one_gives_no_answers():
    assert answers(None) == [] and answers({}) == []
    assert report_markdown({"eligible_customers": [1, 2]}) is None
