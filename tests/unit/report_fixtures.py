"""Fixed, hand-built audit results for the report's byte-identity tests.

``GOLDEN`` holds the SHA-256 of ``render_html`` of each result (figures aside), computed with the
report as it was before issue 10 split it into sections and gave it typed metrics: any change
to the rendered text (a word, a number's format, a table cell) changes the digest.
"""

from __future__ import annotations

import re
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

#: SHA-256 of the page with every embedded PNG replaced by a placeholder
#: (:func:`without_figures`), computed from the pages of the original code (whose full
#: digests, figures included, this tree reproduced on the machine that computed them: PNG
#: bytes depend on the matplotlib and FreeType build, so the figures are checked apart).
#: Recomputed once for issue 11 part 5, whose only change to these pages is the Attacks
#: section (metrics first, the threat models in a fold below the table; the rest of each
#: page compared line by line with the pages of the code before it)
GOLDEN: dict[str, str] = {
    "none": "bf74b51d833ba981be0384e7f47e71a14233f3fa269d8c7dbd058cbed720f870",
    "memguard": "40170387cf8265c05021d9375e64a5537585631470db8b3f0e1a92f0c4090ffd",
    "top_k": "3ce8182a4192f7491745f2ce98abdc81717b1d9513f9b86b05d68a15f94c6c06",
    "dp_sgd": "75f448924cd026da224aa118b9de0f55d3ce0715fdbecdab0cca58e2aed16e66",
    "bare": "a16ae8ff597223f4da69b79f2f80db19187e8e45c4f3fe85e694d31a920301f1",
}
FIGURE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def without_figures(html: str) -> str:
    """The page with each embedded PNG's data replaced by "..."."""
    return FIGURE.sub("data:image/png;base64,...", html)


def bare() -> AuditResult:
    """Scores without metrics: the verdict reads its numbers off the ROC curves."""
    r = result()
    for a in r.attacks:
        a.metrics = None
    return r
