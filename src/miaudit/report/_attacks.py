"""The Attacks section: the verdict and the table of every attack's threat model and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from miaudit.metrics import AttackMetrics
from miaudit.report._data import Curve
from miaudit.report._format import DASH, ci_html, esc, fmt, yes_no
from miaudit.report._plots import attack_colors
from miaudit.report._verdict import verdict
from miaudit.results import AuditResult

TPR_COLUMNS = (("0.001", "0.1%"), ("0.01", "1%"), ("0.1", "10%"))
_HEAD = (
    '<thead><tr class="group"><th></th><th colspan="5">Threat model</th>'
    '<th colspan="9">Results on the audited records</th></tr>'
    "<tr><th>Attack</th><th>Knowledge</th><th>Shadow models</th><th>Same-distribution "
    "data</th><th>Architecture</th><th>Paper</th>"
    '<th class="num">AUC</th>'
    + "".join(f'<th class="num">TPR @ {label} FPR</th>' for _, label in TPR_COLUMNS)
    + '<th class="num">Balanced acc.</th><th class="num">Advantage</th>'
    '<th class="num">ε lower bound<br><span class="small">max over thresholds '
    '(optimistic)</span></th><th class="num">ε lower bound<br><span class="small">held-out '
    '(valid 95%)</span></th><th class="num">Time</th></tr></thead>'
)


def attacks_section(result: AuditResult, curves: list[Curve]) -> str:
    """The verdict, then one row per attack: its threat model and its metrics."""
    colors = dict(zip([c.name for c in curves], attack_colors(len(curves)), strict=True))
    rows = []
    for a in result.attacks:
        tm = a.threat_model if isinstance(a.threat_model, Mapping) else {}
        swatch = (
            f'<span class="swatch" style="background:{colors[a.name]}"></span>'
            if a.name in colors
            else ""
        )
        cells = [
            f"<td>{swatch}<strong>{esc(a.name)}</strong></td>",
            f"<td>{esc(tm.get('knowledge') or DASH)}</td>",
            f"<td>{yes_no(tm.get('needs_shadow_models'))}</td>",
            f"<td>{yes_no(tm.get('needs_same_distribution_data'))}</td>",
            f"<td>{yes_no(tm.get('needs_architecture'))}</td>",
            f"<td>{esc(tm.get('paper') or DASH)}</td>",
        ]
        seconds = f'<td class="num">{fmt(a.seconds, 1)} s</td>'
        if a.error is not None:
            cells.append(
                f'<td class="err" colspan="8"><strong>Failed:</strong> {esc(a.error)}</td>'
            )
            rows.append(f'<tr class="failed">{"".join(cells)}{seconds}</tr>')
            continue
        rows.append(f"<tr>{''.join(cells + _metric_cells(a.metrics))}{seconds}</tr>")
    table = f'<div class="table-wrap"><table>{_HEAD}<tbody>{"".join(rows)}</tbody></table></div>'
    if not result.attacks:
        table = "<p>No attacks were run.</p>"
    return (
        "<section>\n<h2>Attacks</h2>\n"
        + verdict(result, curves)
        + "\n"
        + table
        + '\n<p class="small">Brackets are 95% confidence intervals ([–]: none computed, '
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
        "Time: wall-clock seconds of the attack.</p>\n"
        "</section>"
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
