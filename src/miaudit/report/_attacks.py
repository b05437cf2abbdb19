"""The Attacks section: the verdict, the table of every attack's metrics, and the attacks'
threat models folded away below it.

The metrics come first: at 1280 px the whole table fits the page without scrolling
sideways (issue 11 part 5; before, the threat-model and paper columns pushed the metric
columns off the right edge). Each attack's row names what it knows (black-box
probabilities, labels, white-box); its full threat model and paper are in the comparison
table of the fold, the columns of the survey's comparison table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from miaudit.metrics import AttackMetrics
from miaudit.report._data import Curve
from miaudit.report._format import DASH, ci_html, esc, fmt, yes_no
from miaudit.report._plots import attack_colors
from miaudit.report._verdict import verdict
from miaudit.results import AttackResult, AuditResult

TPR_COLUMNS = (("0.001", "0.1%"), ("0.01", "1%"), ("0.1", "10%"))
#: metric columns after the attack's name (the failed row spans them)
_N_METRICS = 8
_HEAD = (
    "<thead><tr><th>Attack</th>"
    '<th class="num">AUC</th>'
    + "".join(f'<th class="num">TPR @<br>{label} FPR</th>' for _, label in TPR_COLUMNS)
    + '<th class="num">Balanced<br>accuracy</th><th class="num">Advantage</th>'
    '<th class="num">ε lower bound<br><span class="small">max over thresholds '
    '(optimistic)</span></th><th class="num">ε lower bound<br><span class="small">held-out '
    '(valid 95%)</span></th><th class="num">Time</th></tr></thead>'
)
_THREAT_HEAD = (
    "<thead><tr><th>Attack</th><th>Knowledge</th><th>Shadow models</th>"
    "<th>Same-distribution data</th><th>Architecture</th><th>Paper</th></tr></thead>"
)


def _threat(a: AttackResult) -> Mapping[str, Any]:
    return a.threat_model if isinstance(a.threat_model, Mapping) else {}


def attacks_section(result: AuditResult, curves: list[Curve]) -> str:
    """The verdict, one row of metrics per attack, and the attacks' threat models."""
    colors = dict(zip([c.name for c in curves], attack_colors(len(curves)), strict=True))
    rows = []
    for a in result.attacks:
        swatch = (
            f'<span class="swatch" style="background:{colors[a.name]}"></span>'
            if a.name in colors
            else ""
        )
        knowledge = _threat(a).get("knowledge") or DASH
        name = (
            f'<td class="attack">{swatch}<strong>{_breakable(a.name)}</strong>'
            f'<span class="knows">{esc(knowledge)}</span></td>'
        )
        seconds = f'<td class="num">{fmt(a.seconds, 1)} s</td>'
        if a.error is not None:
            failed = (
                f'<td class="err" colspan="{_N_METRICS}"><strong>Failed:</strong> '
                f"{esc(a.error)}</td>"
            )
            rows.append(f'<tr class="failed">{name}{failed}{seconds}</tr>')
            continue
        rows.append(f"<tr>{name}{''.join(_metric_cells(a.metrics))}{seconds}</tr>")
    table = (
        f'<div class="table-wrap"><table class="attacks">{_HEAD}<tbody>{"".join(rows)}'
        "</tbody></table></div>"
    )
    if not result.attacks:
        table = "<p>No attacks were run.</p>"
    return (
        '<section id="attacks">\n<h2>Attacks</h2>\n'
        + verdict(result, curves)
        + "\n"
        + table
        + '\n<p class="small">Under each attack: what it knows of the target. Brackets are '
        "95% confidence intervals ([–]: none computed, "
        "evaluation.bootstrap 0). TPR @ x FPR: share of "
        "members found when at most x of non-members are wrongly flagged. Advantage: the "
        "largest TPR − FPR over thresholds (Yeom et al., 2018). ε lower bound: the "
        "differential-privacy ε implied by the attack's error rates with 95% Clopper-Pearson "
        "intervals (Jagielski et al., 2020). The max-over-thresholds column picks the best "
        "threshold on the same records without a multiple-testing correction, so it is "
        "optimistic: read it as indicative, not as a certified bound. The held-out column "
        "chooses the threshold on a random half of the records (stratified by membership) "
        "and computes the bound on the other half only, as Jagielski et al. do: a valid 95% "
        "lower bound, smaller because it uses half the records. "
        "Time: wall-clock seconds of the attack.</p>\n" + _threat_models(result) + "</section>"
    )


def _threat_models(result: AuditResult) -> str:
    """The attacks' threat models (the survey's comparison table), folded away."""
    if not result.attacks:
        return ""
    rows = []
    for a in result.attacks:
        tm = _threat(a)
        rows.append(
            f"<tr><td><strong>{esc(a.name)}</strong></td>"
            f"<td>{esc(tm.get('knowledge') or DASH)}</td>"
            f"<td>{yes_no(tm.get('needs_shadow_models'))}</td>"
            f"<td>{yes_no(tm.get('needs_same_distribution_data'))}</td>"
            f"<td>{yes_no(tm.get('needs_architecture'))}</td>"
            f'<td class="paper">{esc(tm.get("paper") or DASH)}</td></tr>'
        )
    return (
        '<details class="threat"><summary>Threat model of each attack: what the attacker '
        "knows, what it needs, the paper</summary>"
        f'<div class="table-wrap"><table class="threat">{_THREAT_HEAD}<tbody>{"".join(rows)}'
        "</tbody></table></div></details>\n"
    )


def _metric_cells(m: AttackMetrics | None) -> list[str]:
    """The result cells of a completed attack (dashes where a metric is missing)."""

    def value(name: str) -> Any:
        return getattr(m, name) if m is not None else None

    tprs, tpr_cis = value("tpr_at_fpr") or {}, value("tpr_at_fpr_ci") or {}
    cells = [f'<td class="num">{fmt(value("auc"))}{ci_html(value("auc_ci"))}</td>']
    for key, _ in TPR_COLUMNS:
        cells.append(f'<td class="num">{fmt(tprs.get(key))}{ci_html(tpr_cis.get(key))}</td>')
    cells.append(f'<td class="num">{fmt(value("balanced_accuracy"))}</td>')
    cells.append(f'<td class="num">{fmt(value("advantage"))}</td>')
    cells.append(f'<td class="num">{fmt(value("epsilon_lower_bound"), 2)}</td>')
    cells.append(f'<td class="num">{fmt(value("epsilon_lower_bound_heldout"), 2)}</td>')
    return cells


def _breakable(name: str) -> str:
    """An attack's name, escaped, with line-break opportunities after its underscores (a
    long name such as calibrated_modified_entropy wraps at a word, not mid-word)."""
    return esc(name).replace("_", "_<wbr>")
