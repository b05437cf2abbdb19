"""Salem et al. 2019, "ML-Leaks: Model and Data Independent Membership Inference Attacks and
Defenses on Machine Learning Models" (NDSS). Adversary 3 (sec. V): a threshold on the
largest posterior, with no shadow model and no data."""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, ThreatModel, register_attack
from miaudit.outputs import ModelOutputs
from miaudit.signals import max_confidence
from miaudit.validation import Interval


@register_attack
class ConfidenceAttack(Attack):
    """ML-Leaks adversary 3: score = max_c f(x)_c (survey eq. 1).

    Threshold choice (Salem et al. 2019, sec. V-B): the attacker queries the target on
    random inputs, which are non-members, and takes the ``percentile``-th percentile of
    their max posteriors as the threshold (member iff max posterior >= threshold). Without
    random queries the attack stays threshold-free (ROC metrics are unaffected).

    Args:
        percentile: percentile (0-100) of the random queries' max posteriors used as the
            threshold; the paper explores several and finds high percentiles work well.
    """

    name = "confidence"
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper="Salem et al. 2019, ML-Leaks (NDSS), adversary 3",
    )
    param_constraints = {"percentile": Interval(float, 0, 100)}

    def __init__(self, *, percentile: float = 90.0) -> None:
        self.percentile = percentile

    def fit(self, knowledge: AttackerKnowledge) -> ConfidenceAttack:
        super().fit(knowledge)  # checks the parameters first
        if knowledge.random_queries is not None and knowledge.random_queries.n > 0:
            random_max = max_confidence(knowledge.random_queries)
            self.threshold_ = float(np.percentile(random_max, self.percentile))
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return max_confidence(outputs)
