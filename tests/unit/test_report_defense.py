"""The report's Defense section and results.json's strongest-attack summary."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from miaudit.metrics import AttackMetrics
from miaudit.report import render_html
from miaudit.results import AttackResult, AuditResult, TargetSummary, strongest_attacks


def _threat(knowledge: str, shadow: bool = False) -> dict[str, Any]:
    return {
        "knowledge": knowledge,
        "needs_shadow_models": shadow,
        "needs_same_distribution_data": True,
        "needs_architecture": False,
        "paper": "somebody et al.",
    }


PROBS = _threat("black-box probabilities")
LABELS = _threat("black-box labels")
WHITE = _threat("white-box")


def _metrics(auc: float, tpr1: float) -> AttackMetrics:
    return AttackMetrics(
        auc=auc,
        auc_ci=(auc - 0.02, auc + 0.02),
        tpr_at_fpr={"0.001": tpr1 / 4, "0.01": tpr1, "0.1": min(1.0, tpr1 * 4)},
        tpr_at_fpr_ci={
            "0.001": (0.0, tpr1 / 2),
            "0.01": (tpr1 - 0.01, tpr1 + 0.01),
            "0.1": (0.1, 0.3),
        },
        balanced_accuracy=0.55,
        advantage=0.1,
        epsilon_lower_bound=0.5,
        epsilon_lower_bound_heldout=math.nan,
        threshold=math.nan,
        precision=math.nan,
        recall=math.nan,
        n_members=100,
        n_nonmembers=100,
    )


def _attack(
    name: str, auc: float, tpr1: float, threat: dict[str, Any] = PROBS, attack: str | None = None
) -> AttackResult:
    scores = np.random.default_rng(len(name)).normal(size=200)
    return AttackResult(
        name, threat, {}, scores, metrics=_metrics(auc, tpr1), attack=attack or name
    )


def _failed(name: str) -> AttackResult:
    return AttackResult(name, PROBS, {}, None, error="it broke", attack=name)


def _attacks() -> list[AttackResult]:
    """tie_low and tie_high share the top TPR at 1% FPR; tie_high has the higher AUC.
    auc_top and auc_twin share the top AUC; auc_twin has the higher TPR."""
    return [
        _failed("broken"),  # a failed attack never wins, whatever it would have scored
        _attack("tie_low", 0.60, 0.050),
        _attack("auc_top", 0.80, 0.030),
        _attack("tie_high", 0.70, 0.050),
        _attack("auc_twin", 0.80, 0.040),
        _attack("tie_high_again", 0.70, 0.050),  # equal on both: the earlier one stays
        _attack("gap", 0.56, 0.010, LABELS),
        _attack("boundary", 0.58, 0.020, LABELS, attack="boundary_distance"),
        _attack("grad", 0.59, 0.045, WHITE, attack="gradient_norm"),
    ]


def _result(
    attacks: list[AttackResult],
    defense: dict[str, Any] | None = None,
    *,
    aware: bool | None = None,
    config: dict[str, Any] | None = None,
) -> AuditResult:
    membership = np.arange(200) < 100
    target = TargetSummary(
        model="mlp",
        params={"hidden": [64]},
        num_classes=10,
        n_members=100,
        n_nonmembers=100,
        train_accuracy=0.95,
        test_accuracy=0.80,
        dataset="digits",
        defense=defense,
    )
    return AuditResult(
        target=target,
        attacks=attacks,
        membership=membership,
        record_ids=np.arange(200, dtype=np.int64),
        config=config,
        seed=0,
        versions={"miaudit": "0.1.0"},
        created="2025-01-02T03:04:05",
        reference_defense_aware=aware,
    )


MEMGUARD = {
    "name": "memguard",
    "kind": "inference",
    "paper": "Jia et al. 2019, MemGuard (CCS)",
    "params": {"budget": 0.5, "max_iter": 20},
    "defender_accuracy": 0.71,
    "defended_defender_accuracy": 0.503,
    "noised_fraction": 0.875,
}
DP_SGD = {
    "name": "dp_sgd",
    "kind": "training",
    "paper": "Abadi et al. 2016",
    "params": {"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5},
    "epsilon": 3.25,
    "noise_multiplier": 1.1,
    "delta": 1e-5,
}


def _section(html: str) -> str:
    start = html.index('<section id="defense">')
    return html[start : html.index("</section>", start)]


def _row(section: str, label: str) -> str:
    start = section.index(f"<th>{label}</th>")
    return section[start : section.index("</tr>", start)]


def test_strongest_attack_uses_tpr_then_auc_then_run_order() -> None:
    s = strongest_attacks(_attacks())
    best = s["strongest_attack"]
    assert best["name"] == "tie_high"  # beats tie_low on AUC, tie_high_again on run order
    assert best["tpr_at_fpr"] == {"0.01": 0.05}
    assert best["auc"] == 0.70
    assert best["auc_ci"] == pytest.approx([0.68, 0.72])
    assert best["tpr_at_fpr_ci"]["0.01"] == pytest.approx([0.04, 0.06])
    assert best["access"] == "outputs"
    assert s["highest_auc_attack"]["name"] == "auc_twin"  # the AUC tie goes to the higher TPR
    by_access = s["strongest_attack_by_access"]
    assert list(by_access) == ["labels", "outputs", "white-box"]
    assert by_access["labels"]["name"] == "boundary"
    assert by_access["labels"]["attack"] == "boundary_distance"
    assert by_access["outputs"]["name"] == "tie_high"
    assert by_access["white-box"]["name"] == "grad"


def test_strongest_attack_edge_cases() -> None:
    empty = strongest_attacks([_failed("a"), _failed("b")])
    assert empty["strongest_attack"] is None and empty["highest_auc_attack"] is None
    assert empty["strongest_attack_by_access"] == {}
    # no TPR metric: the strongest falls back to the AUC; NaN counts as missing
    a = _attack("a", 0.7, 0.0)
    a.metrics = replace(_metrics(0.7, 0.0), auc_ci=None, tpr_at_fpr={}, tpr_at_fpr_ci={})
    b = _attack("b", 0.6, 0.0)
    b.metrics = replace(_metrics(0.6, 0.0), auc_ci=None, tpr_at_fpr={"0.01": float("nan")})
    s = strongest_attacks([b, a])
    assert s["strongest_attack"]["name"] == "a"
    assert s["strongest_attack"]["tpr_at_fpr"] == {"0.01": None}
    assert s["strongest_attack"]["auc_ci"] is None
    # the access of a result without a threat model comes from the registered attack
    gap = AttackResult("g", {}, {}, None, metrics=_metrics(0.6, 0.02), attack="gap")
    assert strongest_attacks([gap])["strongest_attack"]["access"] == "labels"


def test_results_json_has_the_summary_and_keeps_its_keys() -> None:
    result = _result(_attacks(), MEMGUARD, aware=False)
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("title", "created", "seed", "versions", "config", "target", "attacks"):
        assert key in data
    assert data["target"]["defense"]["name"] == "memguard"
    assert data["summary"]["strongest_attack"]["name"] == "tie_high"
    assert data["summary"]["highest_auc_attack"]["name"] == "auc_twin"
    assert data["summary"]["strongest_attack_by_access"]["labels"]["name"] == "boundary"
    assert data["reference_defense_aware"] is False
    assert _result([_attack("a", 0.6, 0.02)]).to_dict()["reference_defense_aware"] is None


def test_no_defense_no_section() -> None:
    html = render_html(_result(_attacks()))
    assert 'id="defense"' not in html and "<h2>Defense</h2>" not in html
    assert "label-only attacks are not affected" not in html


def test_memguard_section() -> None:
    html = render_html(_result(_attacks(), MEMGUARD, aware=False))
    section = _section(html)
    assert "<h2>Defense</h2>" in section
    assert "<strong>memguard</strong> (inference-time" in section
    assert "Jia et al. 2019, MemGuard (CCS)" in section
    assert 'budget=<span class="mono">0.5</span>' in section
    # the strength parameter comes from the registered MemGuard class
    assert re.search(r'<span class="mono">budget</span> = <span class="mono">0.5</span>', section)
    assert 'noised_fraction=<span class="mono">0.875</span>' in section
    assert 'defended_defender_accuracy=<span class="mono">0.503</span>' in section
    assert "Privacy budget" not in section
    assert '<span class="mono">0.950</span>' in _row(section, "Train accuracy")
    assert '<span class="mono">0.800</span>' in _row(section, "Test accuracy")
    assert "+0.150" in _row(section, "Train-test gap")
    aware = _row(section, "Defense-aware reference models")
    assert "<strong>no</strong>" in aware and "could not be applied" not in aware
    config = {"reference": {"defense_aware": True}}
    guarded = _section(render_html(_result(_attacks(), MEMGUARD, aware=True, config=config)))
    assert "wrapped by the same defense" in _row(guarded, "Defense-aware reference models")
    strongest = _row(section, "Strongest (TPR @ 1% FPR)")
    assert "<strong>tie_high</strong>" in strongest
    assert "0.050" in strongest and "[0.040, 0.060]" in strongest and "0.700" in strongest
    assert "<strong>auc_twin</strong>" in _row(section, "Highest AUC")
    labels_row = _row(section, "Strongest, labels only (black box)")
    assert "<strong>boundary</strong>" in labels_row and "(boundary_distance)" in labels_row
    assert "<strong>grad</strong>" in _row(section, "Strongest, white box")
    assert "<strong>tie_high</strong>" in _row(section, "Strongest, probabilities (black box)")
    sentence = re.search(r'<div class="verdict label-only"><p>(.*?)</p>', section)
    assert sentence is not None
    assert "label-only attacks are not affected by it by design" in sentence.group(1)
    assert "<strong>boundary</strong>" in sentence.group(1)
    assert '<span class="mono">0.580</span>, 95% CI [0.560, 0.600]' in sentence.group(1)
    # the target table points to the section instead of repeating it
    assert '<a href="#defense">' in html


def test_verdict_uses_the_same_tie_break() -> None:
    html = render_html(_result(_attacks(), MEMGUARD))
    verdict = html[html.index("Strongest attack at low false-positive rate") :]
    assert verdict.index("<strong>tie_high</strong>") < verdict.index("Highest AUC")
    assert "Highest AUC: <strong>auc_twin</strong>" in verdict


def test_label_preserving_defense_without_label_only_attack() -> None:
    only_probs = [a for a in _attacks() if a.threat_model is not LABELS]
    top_k = {"name": "top_k", "kind": "inference", "params": {"k": 1}}
    section = _section(render_html(_result(only_probs, top_k)))
    assert "label-only attacks are not affected by it by design; none was run here" in section
    assert "Strongest, labels only" not in section
    # the paper comes from the registry when the result does not carry it
    assert "Shokri et al. 2017" in section


def test_dp_sgd_section_has_epsilon_and_no_label_only_sentence() -> None:
    config = {"reference": {"num_models": 2, "defense_aware": True}}
    section = _section(render_html(_result(_attacks(), DP_SGD, aware=True, config=config)))
    budget = _row(section, "Privacy budget")
    assert "ε = <span" in budget and "3.250" in budget and "1e-05" in budget
    fitted = _row(section, "Fitted values")
    assert "noise_multiplier" in fitted and "epsilon" not in fitted and "delta" not in fitted
    assert "training-time" in section
    aware = _row(section, "Defense-aware reference models")
    assert "<strong>yes</strong>" in aware and "reference.defense_aware: true" in aware
    assert "trained with the same defense" in aware
    assert "label-only attacks are not affected" not in section
    custom = _section(render_html(_result(_attacks(), DP_SGD, aware=False, config=config)))
    aware = _row(custom, "Defense-aware reference models")
    assert "<strong>no</strong>" in aware and "could not be applied" in aware


def test_defense_aware_not_applicable_and_escaping() -> None:
    odd = {"name": "rounding", "kind": "inference", "params": {"decimals": "<b>2</b>"}}
    section = _section(render_html(_result([_attack("loss", 0.6, 0.02)], odd)))
    assert "<b>2</b>" not in section and "&lt;b&gt;2&lt;/b&gt;" in section
    assert "not applicable" in _row(section, "Defense-aware reference models")
    shadow = _attack("lira", 0.6, 0.02, _threat("black-box probabilities", shadow=True))
    section = _section(render_html(_result([shadow], odd)))
    assert "not recorded" in _row(section, "Defense-aware reference models")


def test_no_completed_attack() -> None:
    section = _section(render_html(_result([_failed("a")], MEMGUARD)))
    assert "No attack completed with metrics" in section


def test_audit_records_whether_reference_models_were_defense_aware() -> None:
    from miaudit.pipeline import audit
    from miaudit.pipeline.references import ReferenceSettings

    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(x[:60], y[:60])
    common: dict[str, Any] = {
        "members": (x[:60], y[:60]),
        "nonmembers": (x[60:120], y[60:120]),
        "population": (x[120:], y[120:]),
        "bootstrap": 10,
        "random_queries": 0,
        "progress": False,
    }
    plain = audit(model, attacks=["loss"], **common)
    assert plain.reference_defense_aware is None
    recipe: dict[str, Any] = {
        "num_models": 2,
        "model": "mlp",
        "params": {"hidden": [8], "epochs": 1, "batch_size": 32},
    }
    lira = [{"name": "lira", "online": False}]
    naive = audit(model, attacks=lira, reference=ReferenceSettings(**recipe), **common)
    assert naive.attack("lira").error is None
    assert naive.reference_defense_aware is False
    defense = {"name": "label_smoothing", "smoothing": 0.2}
    aware = audit(
        model, attacks=lira, reference=ReferenceSettings(**recipe, defense=defense), **common
    )
    assert aware.attack("lira").error is None
    assert aware.reference_defense_aware is True
