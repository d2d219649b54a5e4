"""The stored report of a run (``runs.report``, ``pipeline.report.Report.to_dict()``) as the
pipeline writes it: one Markdown document, and its seven sections as the page's answers.

The text is the pipeline's own (``Report.to_markdown``): the page and the download show the
same sentences, written in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from pipeline.report import Report

# the sections that come with a chart on the page, by question number
CHARTS = {3: "distinctive", 4: "revenue", 7: "evidence"}
SECTION = "## "


def report_markdown(report: Mapping | None,
                    cluster_names: Mapping[int, str] | None = None) -> str | None:
    """The pipeline's Markdown for a stored report, or None if there is none to rebuild."""
    if not report:
        return None
    try:
        fields = {**report, "as_of": date.fromisoformat(str(report["as_of"]))}
        return Report(**fields).to_markdown(cluster_names)
    except (KeyError, TypeError, ValueError):  # a report from an older pipeline
        return None


def answers(report: Mapping | None,
            cluster_names: Mapping[int, str] | None = None) -> list[dict]:
    """[{"question", "answer" (Markdown), "chart" (key or None)}], the report's sections."""
    text = report_markdown(report, cluster_names)
    if text is None:
        return []
    items: list[dict] = []
    for line in text.splitlines():
        if line.startswith(SECTION):
            number, _, question = line.removeprefix(SECTION).partition(". ")
            chart = CHARTS.get(int(number)) if number.isdigit() else None
            items.append({"question": question or number, "answer": [], "chart": chart})
        elif items:
            items[-1]["answer"].append(line)
    return [{**item, "answer": "\n".join(item["answer"]).strip()} for item in items]
