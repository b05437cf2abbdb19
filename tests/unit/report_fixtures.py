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
#: bytes depend on the matplotlib and FreeType build, so the figures are checked apart)
GOLDEN: dict[str, str] = {
    "none": "ea9187d5d6aa433982ea447df9c3efa7201f85aa6fbb94cb21b628d22e89dd14",
    "memguard": "62e5960ab480cb5f5d056f7aa7cff0dc08e9c4179e46557e8c5221b044bbe720",
    "top_k": "5fe6b3b1de06f8698d7b1c523844c9ef2986adb7341bb25270955a8413f83eb5",
    "dp_sgd": "468260118b6c4c00605dd2e4e02b85575f4c3a21635daf659780934c09128076",
    "bare": "bd1996762f7ee7a5a64758232ed0dc3f8f3146c11f02584503f6fc1c542da861",
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
