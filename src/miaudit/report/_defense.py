"""The Defense section: what the target's defense is, the utility it kept, and the strongest
attacks against it.

What the report says about a defense comes from its registered class
(:class:`miaudit.defenses.base.Defense`): ``kind``, ``paper``, ``strength_param``,
``preserves_labels`` with ``output_effect`` (the label-only note) and
``differentially_private`` (the privacy-budget row), so a new defense needs no edit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from miaudit.report._format import DASH, ci_html, compact, esc, fmt, get, kv_table, num, params_html
from miaudit.results import AuditResult, strongest_attacks

ACCESS_NAMES = {
    "labels": "labels only (black box)",
    "outputs": "probabilities (black box)",
    "white-box": "white box",
}
#: entries of ``target.defense`` shown in their own rows, not among the fitted values
_DEFENSE_OWN_KEYS = ("name", "kind", "paper", "params", "epsilon", "delta")
_KIND_TEXT = {
    "training": "training-time: the target model was trained with it",
    "inference": "inference-time: it wraps the trained model's released outputs",
}


def defense_section(result: AuditResult) -> str:
    """The target's defense, the utility it kept, and the strongest attacks against it."""
    defense = getattr(result.target, "defense", None)
    if not isinstance(defense, Mapping) or not defense:
        return ""
    name = get(defense, "name")
    cls = defense_class(name)
    kind = get(defense, "kind") or getattr(cls, "kind", None)
    summary = strongest_attacks(result.attacks)
    return (
        '<section id="defense">\n<h2>Defense</h2>\n'
        + kv_table(_defense_rows(defense, cls, kind) + _utility_rows(result, kind))
        + "\n<h3>Strongest attacks against the defended model</h3>\n"
        + _strongest_table(summary)
        + "\n"
        + _label_only_note(name, kind, cls, summary)
        + '\n<p class="small">Strongest attack: '
        + esc(summary["criterion"])
        + ". An attack's access is what its threat model needs: labels only, probability "
        "vectors, or the model's parameters (white box). Brackets are 95% confidence "
        "intervals.</p>\n</section>"
    )


def defense_class(name: Any) -> Any:
    """The registered Defense class of ``name``, or None (unknown or not importable)."""
    if not isinstance(name, str):
        return None
    try:
        from miaudit.defenses import DEFENSES
    except ImportError:
        return None
    return DEFENSES.get(name) if name in DEFENSES else None


def _defense_rows(defense: Mapping[str, Any], cls: Any, kind: Any) -> list[tuple[str, str]]:
    """The defense, its paper and parameters, its privacy budget and its fitted values."""
    name = get(defense, "name")
    paper = get(defense, "paper") or getattr(cls, "paper", None)
    params = get(defense, "params")
    params = params if isinstance(params, Mapping) else {}
    kind_text = _KIND_TEXT.get(str(kind), str(kind) if kind else DASH)
    rows = [
        ("Defense", f"<strong>{esc(name or DASH)}</strong> ({esc(kind_text)})"),
        ("Paper", esc(paper or DASH)),
        ("Parameters", params_html(params)),
    ]
    strength = getattr(cls, "strength_param", None)
    if strength:
        rows.append(
            (
                "Strength parameter",
                f'<span class="mono">{esc(strength)}</span> = '
                f'<span class="mono">{esc(compact(params.get(strength, DASH)))}</span>',
            )
        )
    epsilon = get(defense, "epsilon")
    if epsilon is not None or getattr(cls, "differentially_private", False):
        delta = get(defense, "delta")
        delta = params.get("delta") if delta is None else delta
        rows.append(
            (
                "Privacy budget",
                f'ε = <span class="mono">{fmt(epsilon, 3)}</span> at δ = '
                f'<span class="mono">{esc(DASH if delta is None else compact(delta))}</span>'
                " (differential privacy of the training algorithm, from its accountant)",
            )
        )
    fitted = {k: v for k, v in defense.items() if k not in _DEFENSE_OWN_KEYS}
    if fitted:
        rows.append(("Fitted values", params_html(fitted)))
    return rows


def _utility_rows(result: AuditResult, kind: Any) -> list[tuple[str, str]]:
    """The defended model's accuracy, and whether the attacker's models had the defense."""
    t = result.target
    train, test = num(t.train_accuracy), num(t.test_accuracy)
    gap_text = f"{train - test:+.3f}" if train is not None and test is not None else DASH
    return [
        ("Train accuracy", f'<span class="mono">{fmt(t.train_accuracy)}</span>'),
        ("Test accuracy", f'<span class="mono">{fmt(t.test_accuracy)}</span>'),
        ("Train-test gap", f'<span class="mono">{gap_text}</span> (train − test)'),
        ("Defense-aware reference models", _defense_aware_text(result, kind)),
    ]


def _defense_aware_text(result: AuditResult, kind: Any) -> str:
    """Whether the attacker's reference/shadow models had the target's defense."""
    aware = getattr(result, "reference_defense_aware", None)
    config = result.config if isinstance(result.config, Mapping) else {}
    configured = get(get(config, "reference"), "defense_aware")
    asked = (
        f' (configured: <span class="mono">reference.defense_aware: '
        f"{esc(compact(configured))}</span>)"
        if configured is not None
        else ""
    )
    if aware is True:
        how = (
            "wrapped by the same defense, with the same parameters, before their outputs were read"
            if kind == "inference"
            else "trained with the same defense and parameters"
        )
        return f"<strong>yes</strong>: the attacker's reference/shadow models were {how}" + asked
    if aware is False:
        why = "; the defense could not be applied to them" if configured is True else ""
        return (
            "<strong>no</strong>: the attacker's reference/shadow models were trained without "
            "the defense" + why + asked
        )
    if any(
        get(a.threat_model, "needs_shadow_models") is True
        for a in result.attacks
        if a.error is None
    ):
        return "not recorded" + asked
    return "not applicable: no attack used reference or shadow models" + asked


def _attack_value(entry: Mapping[str, Any], key: str) -> tuple[Any, Any]:
    """A summary entry's value and interval of ``key`` ("auc", else TPR at 1% FPR)."""
    if key == "auc":
        return entry.get("auc"), entry.get("auc_ci")
    return get(entry.get("tpr_at_fpr"), "0.01"), get(entry.get("tpr_at_fpr_ci"), "0.01")


def _strongest_table(summary: Mapping[str, Any]) -> str:
    """The strongest attacks of results.json's summary, overall and per access level."""
    rows = [
        ("Strongest (TPR @ 1% FPR)", summary.get("strongest_attack")),
        ("Highest AUC", summary.get("highest_auc_attack")),
    ]
    by_access = summary.get("strongest_attack_by_access") or {}
    rows += [
        (f"Strongest, {ACCESS_NAMES.get(level, level)}", entry)
        for level, entry in by_access.items()
    ]
    if rows[0][1] is None:
        return "<p>No attack completed with metrics, so none can be named strongest.</p>"
    body = []
    for label, entry in rows:
        if entry is None:
            continue
        tpr, tpr_ci = _attack_value(entry, "tpr")
        auc, auc_ci = _attack_value(entry, "auc")
        attack = entry.get("attack")
        registered = (
            f' <span class="small">({esc(attack)})</span>'
            if attack and attack != entry.get("name")
            else ""
        )
        body.append(
            f"<tr><th>{esc(label)}</th><td><strong>{esc(entry.get('name'))}</strong>"
            f"{registered}</td>"
            f"<td>{esc(ACCESS_NAMES.get(entry.get('access'), entry.get('access') or DASH))}</td>"
            f'<td class="num">{fmt(tpr)}{ci_html(tpr_ci)}</td>'
            f'<td class="num">{fmt(auc)}{ci_html(auc_ci)}</td></tr>'
        )
    head = (
        "<thead><tr><th></th><th>Attack</th><th>Access</th>"
        '<th class="num">TPR @ 1% FPR</th><th class="num">AUC</th></tr></thead>'
    )
    return (
        f'<div class="table-wrap"><table class="strongest">{head}'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _label_only_note(name: Any, kind: Any, cls: Any, summary: Mapping[str, Any]) -> str:
    """Inference-time defenses that keep the labels (``Defense.preserves_labels``) cannot
    stop label-only attacks."""
    if kind != "inference" or not getattr(cls, "preserves_labels", False):
        return ""
    what = getattr(cls, "output_effect", None) or "changes the released outputs"
    entry = (summary.get("strongest_attack_by_access") or {}).get("labels")
    if entry is None:
        return (
            f'<div class="verdict"><p>{esc(name)} {what} and keeps every predicted label, so '
            "label-only attacks are not affected by it by design; none was run here, so this "
            'audit may overstate the protection (try <span class="mono">gap</span> or '
            '<span class="mono">boundary_distance</span>).</p></div>'
        )
    auc, ci = _attack_value(entry, "auc")
    ci_text = (
        f", 95% CI [{fmt(ci[0])}, {fmt(ci[1])}]"
        if isinstance(ci, (list, tuple)) and len(ci) == 2
        else ""
    )
    return (
        f'<div class="verdict label-only"><p>{esc(name)} {what} and keeps every predicted '
        "label, so label-only attacks are not affected by it by design: the label-only "
        f"attack <strong>{esc(entry.get('name'))}</strong> reaches AUC "
        f'<span class="mono">{fmt(auc)}</span>{ci_text}.</p></div>'
    )
