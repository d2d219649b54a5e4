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
    """[{"question": ..., "answer": markdown, "chart": key or None}] in the report's order."""
    if not report:
        return []
    if is_structured(report):
        return seven_answers(report)
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
    if is_structured(report) and (text := pipeline_markdown(report)):
        return text
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


# ---- the pipeline's structured report (pipeline.report.Report.to_dict) ------------------

STRUCTURED_KEYS = {"n_customers", "n_insiders", "thresholds", "evidence"}


def is_structured(report: Mapping | None) -> bool:
    return isinstance(report, Mapping) and set(report) >= STRUCTURED_KEYS


def _num(value, fmt: str = ",.2f") -> str:
    return "n/a" if not isinstance(value, int | float) or value != value else format(value, fmt)


def _ratio_text(value) -> str:
    return f"×{_num(value)}" if isinstance(value, int | float) and value == value else "n/a"


def _ci(mean, ci) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return _num(mean)
    return f"{_num(mean)} ({_num(ci[0])} – {_num(ci[1])})"


def _conditions(rules: Mapping | None) -> str:
    if not isinstance(rules, Mapping) or not rules:
        return "- (none recorded)"
    return "\n".join(f"- {_label(name)} {rule.get('op', '?')} {_num(rule.get('value'))}"
                     if isinstance(rule, Mapping) else f"- {_label(name)}: {_format(rule)}"
                     for name, rule in rules.items())


def seven_answers(report: Mapping) -> list[dict]:
    """The seven answers of a structured report as question, Markdown answer and chart key."""
    n, total = int(report.get("n_insiders") or 0), int(report.get("n_customers") or 0)
    share = report.get("insiders_share") or (n / total if total else 0.0)
    revenue = report.get("revenue_share") or 0.0
    ids = list(report.get("insiders_ids") or [])
    counts = report.get("threshold_counts") or {}
    distinctive = "\n".join(
        f"- **{_label(row.get('feature'))}**: {_num(row.get('insiders_mean'))} vs "
        f"{_num(row.get('rest_mean'))} for the rest ({_ratio_text(row.get('ratio'))})"
        + (" — lower is better" if row.get("lower_is_better") else "")
        for row in report.get("distinctive") or [] if isinstance(row, Mapping))
    evidence = "\n".join(
        ["| Feature | Insiders | Rest | Ratio |", "|---|---:|---:|---:|"]
        + [f"| {_label(name)} | {_ci(c.get('insiders_mean'), c.get('insiders_ci95'))} | "
           f"{_ci(c.get('rest_mean'), c.get('rest_ci95'))} | {_ratio_text(c.get('ratio'))} |"
           for name, c in (report.get("evidence") or {}).items() if isinstance(c, Mapping)])
    thresholds = report.get("thresholds") or {}
    source = ("the model version in use" if report.get("thresholds_source") == "given"
              else "the Insiders' medians and extremes (the original rule)")
    return [
        {"question": "Who are the Insiders?", "chart": None,
         "answer": f"**{n:,} customers** — the full list is in the CSV download. First ids: "
                   + (", ".join(str(i) for i in ids[:10]) or "none")
                   + (" …" if len(ids) > 10 else "") + "."},
        {"question": "How many customers are in the group?", "chart": None,
         "answer": f"**{n:,}** of {total:,} customers, **{share:.1%}** of the base."},
        {"question": "What are they like?", "chart": "distinctive",
         "answer": "Mean per customer, Insiders against the rest:\n\n" + (distinctive or "—")},
        {"question": "What share of revenue do they bring?", "chart": "revenue",
         "answer": f"**{revenue:.1%}** of gross revenue comes from **{share:.1%}** of the "
                   "customers."},
        {"question": "Who becomes an Insider?", "chart": None,
         "answer": "Entry condition, **all** of:\n\n" + _conditions(thresholds.get("entry"))
                   + f"\n\nThresholds from {source}. Now "
                   f"{_num(counts.get('others_meeting_entry'), ',')} customers outside the "
                   "group meet it."},
        {"question": "Who stops being an Insider?", "chart": None,
         "answer": "Exit condition, **any** of:\n\n" + _conditions(thresholds.get("exit"))
                   + f"\n\nNow {_num(counts.get('insiders_meeting_exit'), ',')} Insiders meet "
                   "it; the gap between entry and exit keeps customers near the line from "
                   "flipping between runs."},
        {"question": "What guarantees that they are better than the rest?", "chart": "evidence",
         "answer": "Mean per customer with bootstrap 95% confidence intervals:\n\n" + evidence
                   + "\n\n" + _out_of_time(report.get("out_of_time"))},
    ]


def _out_of_time(result: Mapping | None) -> str:
    if not isinstance(result, Mapping):
        return "Out-of-time check: no transactions after the as-of date yet."
    spend, buying = result.get("spend") or {}, result.get("share_buying") or {}
    verdict = "**yes**" if result.get("insiders_spent_more") else "not clearly"
    insiders = _ci(spend.get("insiders_mean"), spend.get("insiders_ci95"))
    rest = _ci(spend.get("rest_mean"), spend.get("rest_ci95"))
    return (f"Out-of-time check, {result.get('window_start')} to {result.get('window_end')}: "
            f"spend per customer Insiders {insiders}, rest {rest}; bought again "
            f"{_num(buying.get('insiders'), '.0%')} vs {_num(buying.get('rest'), '.0%')}. "
            f"Did the Insiders spend more? {verdict}.")


def pipeline_markdown(report: Mapping) -> str | None:
    """The pipeline's own Markdown for a structured report, or None if it cannot be rebuilt."""
    try:
        from datetime import date

        from pipeline.report import Report

        fields = {**report, "as_of": date.fromisoformat(str(report["as_of"]))}
        return Report(**fields).to_markdown()
    except Exception:  # an older or newer report shape: fall back to the generic text
        return None
