"""Fixed, hand-built audit results for the report's byte-identity tests.

``GOLDEN`` holds the SHA-256 of ``render_html`` of each result, computed with the report as it
was before issue 10 split it into sections and gave it typed metrics: any change to the
rendered page (a word, a number's format, a figure's pixels) changes the digest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from miaudit.metrics import AttackMetrics
from miaudit.results import AttackResult, AuditResult, TargetSummary


def threat(knowledge: str, shadow: bool = False) -> dict[str, Any]:
    return {
        "knowledge": knowledge,
        "needs_shadow_models": shadow,
        "needs_same_distribution_data": True,
        "needs_architecture": False,
        "paper": "Somebody et al. 2020",
    }


def metrics(auc: float, tpr1: float, *, ci: bool = True, eps: float = 0.5) -> AttackMetrics:
    """Complete metrics of one attack; ``ci=False`` as with ``bootstrap: 0``."""
    return AttackMetrics(
        auc=auc,
        auc_ci=(auc - 0.02, auc + 0.02) if ci else None,
        tpr_at_fpr={"0.001": tpr1 / 4, "0.01": tpr1, "0.1": min(1.0, tpr1 * 4)},
        tpr_at_fpr_ci={
            "0.001": (0.0, tpr1 / 2) if ci else None,
            "0.01": (tpr1 - 0.01, tpr1 + 0.01) if ci else None,
            "0.1": (0.1, 0.3) if ci else None,
        },
        balanced_accuracy=0.55,
        advantage=0.1,
        epsilon_lower_bound=eps,
        epsilon_lower_bound_heldout=eps / 2,
        threshold=0.25,
        precision=0.6,
        recall=0.4,
        n_members=100,
        n_nonmembers=100,
    )


def _scores(seed: int, membership: np.ndarray, shift: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=membership.size) + shift * membership


def attacks(membership: np.ndarray) -> list[AttackResult]:
    probs, labels = threat("black-box probabilities"), threat("black-box labels")
    risk = 1 / (1 + np.exp(-_scores(4, membership, 0.8)))
    return [
        AttackResult(
            "loss",
            probs,
            {"k": 1},
            _scores(1, membership, 0.6),
            metrics=metrics(0.66, 0.05),
            seconds=1.25,
            attack="loss",
        ),
        AttackResult(
            "gap",
            labels,
            {},
            _scores(2, membership, 0.2),
            metrics=metrics(0.56, 0.02, ci=False),
            seconds=0.5,
            attack="gap",
        ),
        AttackResult(
            "lira <online>",
            threat("black-box probabilities", shadow=True),
            {"num_models": 4, "offline": False},
            _scores(3, membership, 1.0),
            metrics=metrics(0.71, 0.05, eps=float("inf")),
            seconds=3.0,
            attack="lira",
        ),
        AttackResult("risk", probs, {}, risk, metrics=metrics(0.6, 0.03), attack="privacy_risk"),
        AttackResult(
            "grad",
            threat("white-box"),
            {},
            None,
            seconds=0.1,
            error="grad is a white-box attack",
            attack="gradient_norm",
        ),
    ]


def result(defense: dict[str, Any] | None = None, aware: bool | None = None) -> AuditResult:
    membership = np.arange(200) % 2 == 0
    target = TargetSummary(
        model="mlp",
        params={"hidden": [64], "lr": 0.001},
        num_classes=10,
        n_members=100,
        n_nonmembers=100,
        train_accuracy=0.95,
        test_accuracy=0.8125,
        dataset="digits",
        defense=defense,
    )
    return AuditResult(
        target=target,
        attacks=attacks(membership),
        membership=membership,
        record_ids=np.arange(1000, 1200, dtype=np.int64),
        config={"seed": 3, "reference": {"num_models": 4, "defense_aware": aware}},
        seed=3,
        versions={"python": "3.11", "miaudit": "0.1.0"},
        created="2025-01-02T03:04:05",
        timings={"attack:loss": 1.25},
        reference_defense_aware=aware,
    )


DEFENSES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "memguard": {
        "name": "memguard",
        "kind": "inference",
        "paper": "Jia et al. 2019, MemGuard (CCS)",
        "params": {"budget": 0.5, "max_iter": 20},
        "defender_accuracy": 0.71,
        "noised_fraction": 0.875,
    },
    "top_k": {"name": "top_k", "kind": "inference", "params": {"k": 1}},
    "dp_sgd": {
        "name": "dp_sgd",
        "kind": "training",
        "paper": "Abadi et al. 2016",
        "params": {"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5},
        "epsilon": 3.25,
        "noise_multiplier": 1.1,
        "delta": 1e-5,
    },
}

GOLDEN: dict[str, str] = {
    "none": "b8050717bbffe2c3b20b35da5784eae6a62ed34a0e3d11be1b5017353453ba7d",
    "memguard": "e6ca11d1bb7f1833c4ba255b3b0fa116fe336fbc533a5d16e5769d78ba7cf376",
    "top_k": "bae25295304b046b635da225ff93cc769dfed78108d9a4459c2b275736efef65",
    "dp_sgd": "f8f00a05a66c12f6fc843fdd903f76132495e88ea86eb1c519f6f469b69dbfaf",
    "bare": "b97a9d17472d22fa5ceca68fdce1348fb1a833a7312a3d771dfd7d9d74c03453",
}


def bare() -> AuditResult:
    """Scores without metrics: the verdict reads its numbers off the ROC curves."""
    r = result()
    for a in r.attacks:
        a.metrics = None
    return r
