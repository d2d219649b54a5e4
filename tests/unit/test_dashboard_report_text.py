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
