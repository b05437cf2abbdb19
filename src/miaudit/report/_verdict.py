"""The verdict at the top of the Attacks section: which attack is strongest, and what that
means for privacy (Carlini et al., "Membership Inference Attacks From First Principles",
IEEE S&P 2022: the true-positive rate at a low false-positive rate is what matters).

The choice of the strongest attack is :func:`miaudit.results.pick_strongest`, the same rule as
results.json's ``summary``; only the numbers of an attack without metrics come from the ROC
curve drawn here.
"""

from __future__ import annotations

from typing import Any

from miaudit.report._data import Curve, tpr_at
from miaudit.report._format import esc, fmt, num
from miaudit.results import AttackResult, AuditResult, pick_strongest


def _metric(a: AttackResult, curves: dict[str, Curve], key: str) -> float | None:
    """Headline metric from the attack's metrics, else from the ROC computed here."""
    m = a.metrics
    if key == "auc":
        value = num(m.auc) if m is not None else None
        if value is None and a.name in curves:
            value = curves[a.name].auc
        return value
    value = num(m.tpr_at_fpr.get(key)) if m is not None else None
    if value is None and a.name in curves:
        value = tpr_at(curves[a.name], float(key))
    return value


def _auc_ci(a: AttackResult) -> Any:
    return a.metrics.auc_ci if a.metrics is not None else None


def verdict(result: AuditResult, curves: list[Curve]) -> str:
    """The strongest attacks and a plain-words reading of them, as an HTML block."""
    by_name = {c.name: c for c in curves}
    done = [a for a in result.attacks if a.error is None]
    failed = len(result.attacks) - len(done)
    if not done:
        return (
            '<div class="verdict"><p><strong>No attack completed</strong>, so this audit '
            "measures no leakage; see the errors in the table below.</p></div>"
        )
    scored = [(a, _metric(a, by_name, "0.01"), _metric(a, by_name, "auc")) for a in done]
    with_tpr = [s for s in scored if s[1] is not None]
    with_auc = [s for s in scored if s[2] is not None]
    if not with_tpr and not with_auc:
        return (
            '<div class="verdict"><p>The attacks reported no metrics, so no verdict can be '
            "drawn.</p></div>"
        )
    lines = []
    best_tpr = pick_strongest(with_tpr, "tpr")
    best_auc = pick_strongest(with_auc, "auc")
    if best_tpr is not None:
        a, tpr1, _ = best_tpr
        assert tpr1 is not None
        lines.append(
            f"Strongest attack at low false-positive rate: <strong>{esc(a.name)}</strong>, "
            f'TPR <span class="mono">{tpr1:.3f}</span> at 1% FPR '
            f"({tpr1 / 0.01:.1f}× the 1% that random guessing reaches)."
        )
    if best_auc is not None:
        a, _, auc = best_auc
        ci = _auc_ci(a)
        ci_text = ""
        if isinstance(ci, (list, tuple)) and len(ci) == 2:
            ci_text = f", 95% CI [{fmt(ci[0])}, {fmt(ci[1])}]"
        lines.append(
            f"Highest AUC: <strong>{esc(a.name)}</strong>, "
            f'<span class="mono">{auc:.3f}</span>{ci_text}.'
        )
    lines.append(_interpretation(best_auc, best_tpr))
    lines.append(
        "What matters for privacy is the true-positive rate at a low false-positive rate: "
        "an attack that confidently identifies even a few members is a real risk although its "
        "AUC, an average over all error rates, stays close to 0.5 (Carlini et al., "
        "“Membership Inference Attacks From First Principles”, IEEE S&amp;P 2022)."
    )
    if failed:
        lines.append(f"{failed} attack{'s' if failed > 1 else ''} failed; see the table.")
    return '<div class="verdict">' + "".join(f"<p>{x}</p>" for x in lines) + "</div>"


def _interpretation(best_auc: Any, best_tpr: Any) -> str:
    """One sentence on how much leakage the strongest attacks show."""
    auc = best_auc[2] if best_auc is not None else None
    ci = _auc_ci(best_auc[0]) if best_auc is not None else None
    ci_lo = num(ci[0]) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
    ratio = best_tpr[1] / 0.01 if best_tpr is not None else None
    if (ci_lo is not None and ci_lo <= 0.5) and (ratio is None or ratio < 2):
        return (
            "In plain words: the attacks do no better than chance within their uncertainty; "
            "this audit finds little measurable leakage (which is not proof that there is none)."
        )
    if (auc is None or auc < 0.55) and (ratio is None or ratio < 2):
        return (
            "In plain words: the AUC is near 0.5 and the low-FPR true-positive rate near chance: "
            "little measurable leakage."
        )
    if (auc is None or auc < 0.6) and (ratio is None or ratio < 5):
        return (
            "In plain words: the model leaks some membership information, weakly: the attacks "
            "beat chance but cannot single out members with confidence."
        )
    return (
        "In plain words: the model leaks membership information: an attacker can identify "
        "some of the training records with few false accusations."
    )
