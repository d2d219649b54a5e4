"""Reading the stored report in whatever shape the pipeline wrote it."""

from __future__ import annotations

from dashboard.report_text import answers, report_markdown


def test_answers_list_keeps_order_and_text():
    report = {"answers": [{"question": "Who?", "answer": "12 customers"},
                          {"title": "How much?", "value": 0.52}]}
    assert answers(report) == [{"question": "Who?", "answer": "12 customers"},
                               {"question": "How much?", "answer": "- **Value**: 52.0%"}]


def test_answers_mapping_and_plain_keys():
    assert answers({"questions": {"q1_who": {"answer": 3}}}) == [
        {"question": "Q1 who", "answer": "3"}]
    plain = answers({"eligible_customers": [1, 2, 3], "thresholds": {"entry": {}}})
    assert plain == [{"question": "Eligible customers", "answer": "1, 2, 3"}]
    assert answers(None) == [] and answers({}) == []


def test_markdown_prefers_the_pipelines_own_text():
    assert report_markdown({"id": 1}, {"markdown": "# Mine\n"}, []) == "# Mine\n"
    text = report_markdown({"id": 2, "as_of": "2011-11-30", "model_version": 3},
                           {"answers": [{"question": "Who?", "answer": "them"}]},
                           [{"name": "Insiders", "is_insiders": True, "size": 5, "share": 0.1,
                             "revenue_share": 0.5}])
    assert text.startswith("# Insiders report — run #2")
    assert "## 1. Who?" in text and "| Insiders ★ | 5 | 10.0% | 50.0% |" in text


def test_the_pipelines_report_gives_seven_answers_and_its_own_markdown():
    from datetime import date

    import numpy as np

    from dashboard.report_text import is_structured, seven_answers
    from tests.dashboard_seed import _labels, _report
    rng = np.random.default_rng(1)
    from tests.dashboard_seed import _features
    report = _report(_labels(1, _features(rng, 1), set()), date(2011, 9, 30))
    assert is_structured(report)
    items = seven_answers(report)
    assert len(items) == 7
    assert items[1]["answer"].startswith(f"**{report['n_insiders']:,}** of")
    assert "gross revenue >= 3,000.00" in items[4]["answer"].lower()
    markdown = report_markdown({"id": 1}, report, [])
    assert markdown.startswith("# Insiders report as of 2011-09-30")
