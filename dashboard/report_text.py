"""The stored report of a run (``runs.report``, from ``Report.to_dict()``) as questions and
answers, and as one Markdown document to download.

The report's exact keys belong to the pipeline; this reads the common shapes and falls back to
listing whatever is there, so a new key never breaks the page.
"""

from __future__ import annotations

from collections.abc import Mapping

SKIP_KEYS = {"markdown", "thresholds", "insiders_ids", "as_of", "version"}
ANSWER_KEYS = ("answer", "text", "summary")
QUESTION_KEYS = ("question", "title")


def _format(value, depth: int = 0) -> str:
    if isinstance(value, float):
        return f"{value:.1%}" if 0 < abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, Mapping):
        if depth > 1:
            return ", ".join(f"{k}: {_format(v, depth + 1)}" for k, v in value.items())
        return "\n".join(f"- **{_label(k)}**: {_format(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        shown = ", ".join(_format(v, depth + 1) for v in value[:12])
        return shown + (f" … ({len(value):,} in all)" if len(value) > 12 else "")
    return str(value)


def _label(key: str) -> str:
    return str(key).replace("_", " ").strip().capitalize()


def _item(entry, fallback_question: str) -> dict:
    if isinstance(entry, Mapping):
        question = next((entry[k] for k in QUESTION_KEYS if entry.get(k)), fallback_question)
        answer = next((entry[k] for k in ANSWER_KEYS if entry.get(k) not in (None, "")), None)
        extra = {k: v for k, v in entry.items()
                 if k not in (*QUESTION_KEYS, *ANSWER_KEYS, "id", "number")}
        text = _format(answer) if answer is not None else ""
        if extra and answer is None:
            text = _format(extra)
        return {"question": str(question), "answer": text or "—"}
    return {"question": fallback_question, "answer": _format(entry)}


def answers(report: Mapping | None) -> list[dict]:
    """[{"question": ..., "answer": markdown}] in the report's order."""
    if not report:
        return []
    for key in ("answers", "questions"):
        block = report.get(key)
        if isinstance(block, list):
            return [_item(e, f"Question {i}") for i, e in enumerate(block, start=1)]
        if isinstance(block, Mapping):
            return [_item(v, _label(k)) for k, v in block.items()]
    return [_item(v, _label(k)) for k, v in report.items() if k not in SKIP_KEYS]


def report_markdown(run: Mapping | None, report: Mapping | None, clusters: list[dict]) -> str:
    """The report as a Markdown document (the pipeline's own text when it stored one)."""
    report = report or {}
    if isinstance(report.get("markdown"), str) and report["markdown"].strip():
        return report["markdown"]
    run = run or {}
    lines = [f"# Insiders report — run #{run.get('id', '?')}", ""]
    lines.append(f"Data as of {run.get('as_of', '—')}; model version "
                 f"{run.get('model_version') or '—'}.")
    lines.append("")
    for number, item in enumerate(answers(report), start=1):
        lines += [f"## {number}. {item['question']}", "", item["answer"], ""]
    if clusters:
        lines += ["## Clusters", "", "| Cluster | Customers | Share | Revenue share |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {c['name']}{' ★' if c['is_insiders'] else ''} | {c['size']:,} | "
                  f"{c['share']:.1%} | {c['revenue_share']:.1%} |" for c in clusters]
    return "\n".join(lines).rstrip() + "\n"
