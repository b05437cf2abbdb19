"""A privacy gate for CI: an audit's results against thresholds (``miaudit check``).

:func:`parse_check_section` / :func:`parse_cli_thresholds` read the thresholds (checked
before any model trains, with :func:`check_applicable` against the coming audit);
:func:`evaluate_gate` compares an :class:`~miaudit.results.AuditResult` with them;
:func:`check_markdown` and :func:`check_junit` write the outcome for a pull-request comment
and for CI test reports. Reads results only: it imports neither the pipeline nor the report.
"""

from miaudit.gate._evaluate import GateReport, Outcome, Value, evaluate_gate
from miaudit.gate._render import CHECK_FILES, CHECK_JUNIT, CHECK_MD, check_junit, check_markdown
from miaudit.gate._thresholds import (
    CHECK_KEYS,
    Threshold,
    Thresholds,
    check_applicable,
    parse_check_section,
    parse_cli_thresholds,
)

__all__ = [
    "CHECK_FILES",
    "CHECK_JUNIT",
    "CHECK_KEYS",
    "CHECK_MD",
    "GateReport",
    "Outcome",
    "Threshold",
    "Thresholds",
    "Value",
    "check_applicable",
    "check_junit",
    "check_markdown",
    "evaluate_gate",
    "parse_check_section",
    "parse_cli_thresholds",
]
