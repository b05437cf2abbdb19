"""A gate's outcome as text: a short Markdown summary (a pull-request comment) and JUnit XML
(one test case per threshold, which GitHub and GitLab CI show as test results).

Both are pure functions of the :class:`~miaudit.gate.GateReport` and the audit's
:class:`~miaudit.results.AuditResult`: the same results and thresholds give the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from miaudit.gate._evaluate import GateReport, Outcome, Value, configured_bootstrap
from miaudit.results import AuditResult

CHECK_MD = "check.md"
CHECK_JUNIT = "check.junit.xml"
#: the files a check writes beside results.json
CHECK_FILES = (CHECK_MD, CHECK_JUNIT)

_MARK = {"pass": "✅ pass", "fail": "❌ exceeded", "error": "⚠️ not checked"}
_VERDICT = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "⚠️ incomplete (an attack failed)",
}


def rule_text(strict: bool) -> str:
    """How a threshold is judged, in one sentence."""
    if strict:
        return (
            "A threshold is exceeded when the upper end of the value's 95% bootstrap "
            "confidence interval is above it (strict), so the gate passes only when the "
            "audit rules out, at 95%, a value above the limit."
        )
    return (
        "A threshold is exceeded when the value (the point estimate) is above it; the 95% "
        "bootstrap confidence interval is shown beside it (`--strict` compares its upper end "
        "instead)."
    )


def check_markdown(report: GateReport, result: AuditResult, results_path: str) -> str:
    """The Markdown summary: the verdict, one table row per threshold (the worst value, its
    95% CI and whether it holds), how thresholds are judged, and every attack's values."""
    n = len(report.outcomes)
    held = sum(o.status == "pass" for o in report.outcomes)
    t = result.target
    lines = [
        f"## miaudit privacy gate: {_VERDICT[report.verdict]}",
        "",
        f"**{held} of {n} threshold{'s' if n != 1 else ''} hold"
        + (f"; {len(report.failed)} exceeded" if report.failed else "")
        + (f"; {len(report.errors)} not checked" if report.errors else "")
        + ".** "
        + f"Target `{_md(t.model)}`"
        + (f" on `{_md(t.dataset)}`" if t.dataset else "")
        + f" (train accuracy {t.train_accuracy:.3f}, test accuracy {t.test_accuracy:.3f}; "
        f"{t.n_members} members, {t.n_nonmembers} non-members), {len(result.attacks)} "
        f"attack{'s' if len(result.attacks) != 1 else ''}.",
        "",
        "| threshold | applies to | worst | value | 95% CI | result |",
        "|---|---|---|---|---|---|",
    ]
    for o in report.outcomes:
        w = o.worst
        applies = o.threshold.scope
        if o.threshold.metric != "epsilon" and o.threshold.attack is None:
            applies = f"{applies} ({len(o.values)})"
        lines.append(
            f"| {_md(o.threshold.quantity)} <= {o.threshold.limit:g} | {_md(applies)} | "
            f"{_md(w.subject) if w else '–'} | {_num(w.value) if w else '–'} | "
            f"{_ci(w.ci) if w else '–'} | {_MARK[o.status]} |"
        )
    lines += ["", rule_text(report.strict) + _notes(report, result), ""]
    problems = [o for o in report.outcomes if o.status != "pass"]
    for o in problems:
        lines.append(f"- {_MARK[o.status]}: {_md(o.message)}")
    if problems:
        lines.append("")
    lines += _attack_table(report)
    lines += ["", f"Results: `{_md(results_path)}` (audit of {_md(result.created or 'unknown')})."]
    return "\n".join(lines) + "\n"


def _notes(report: GateReport, result: AuditResult) -> str:
    notes = []
    bootstrap = configured_bootstrap(result)
    if bootstrap:
        notes.append(f" Intervals: stratified percentile bootstrap, {bootstrap} resamples.")
    eps = [v for o in report.outcomes if o.threshold.metric == "epsilon" for v in o.values]
    if eps:
        at = f" {eps[0].note}" if eps[0].note else ""
        notes.append(
            f" DP epsilon: the accountant's{at} (an upper bound on the privacy loss, not an "
            "estimate: it has no interval)."
        )
    if any(v.note for o in report.outcomes if o.threshold.metric == "tpr" for v in o.values):
        notes.append(
            " TPR at FPR levels results.json does not carry was computed from the per-record "
            "scores, as the audit computes the others."
        )
    return "".join(notes)


def _attack_table(report: GateReport) -> list[str]:
    """A collapsed table: every attack's value of every attack threshold."""
    columns = [o for o in report.outcomes if o.threshold.metric != "epsilon"]
    if not columns:
        return []
    subjects = list(dict.fromkeys(v.subject for o in columns for v in o.values))
    head = " | ".join(_md(o.threshold.name) for o in columns)
    lines = [
        "<details><summary>Every attack</summary>",
        "",
        f"| attack | {head} |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for subject in subjects:
        cells = []
        for o in columns:
            v = next((v for v in o.values if v.subject == subject), None)
            cells.append(_cell(v))
        lines.append(f"| {_md(subject)} | " + " | ".join(cells) + " |")
    lines += ["", "</details>"]
    return lines


def _cell(v: Value | None) -> str:
    if v is None:
        return "(own threshold)"
    if v.value is None:
        return "failed"
    mark = " ❌" if v.exceeded else ""
    ci = "" if v.ci is None else f" {_ci(v.ci)}"
    return f"{_num(v.value)}{ci}{mark}"


def check_junit(report: GateReport, result: AuditResult, results_path: str) -> str:
    """JUnit XML: a ``<testsuites>`` with one ``<testsuite>`` and one ``<testcase>`` per
    threshold; an exceeded threshold has a ``<failure>``, one that could not be checked an
    ``<error>``; each case's ``<system-out>`` lists every value compared (exact floats)."""
    n, f, e = len(report.outcomes), len(report.failed), len(report.errors)
    counts = {"tests": str(n), "failures": str(f), "errors": str(e), "time": "0"}
    root = ET.Element("testsuites", {"name": "miaudit check", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": "miaudit privacy gate",
            **counts,
            "skipped": "0",
            "timestamp": (result.created or "")[:19],
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("results", results_path),
        ("title", result.title),
        ("strict", str(report.strict).lower()),
        ("rule", rule_text(report.strict)),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for o in report.outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            {"name": o.threshold.name, "classname": f"miaudit.check.{_class(o)}", "time": "0"},
        )
        if o.status == "fail":
            ET.SubElement(case, "failure", {"type": "ThresholdExceeded", "message": o.message})
        elif o.status == "error":
            ET.SubElement(case, "error", {"type": "NotChecked", "message": o.message})
        out = ET.SubElement(case, "system-out")
        out.text = _values_text(o)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _class(o: Outcome) -> str:
    t = o.threshold
    metric = t.metric if t.fpr is None else f"tpr_at_fpr_{t.fpr:g}"
    return metric if t.attack is None else f"{metric}.{t.attack}"


def _values_text(o: Outcome) -> str:
    rows = [o.message, "subject\tvalue\tci_low\tci_high\tcompared\tresult"]
    for v in o.values:
        lo, hi = ("", "") if v.ci is None else (repr(v.ci[0]), repr(v.ci[1]))
        result = "error: " + v.error if v.error else ("exceeded" if v.exceeded else "pass")
        value = "" if v.value is None else repr(v.value)
        compared = "" if v.compared is None else repr(v.compared)
        rows.append(f"{v.subject}\t{value}\t{lo}\t{hi}\t{compared}\t{result}")
    return "\n".join(rows)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _md(text: object) -> str:
    """Text safe in a Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|")
