"""Salem et al. 2019, "ML-Leaks: Model and Data Independent Membership Inference Attacks and
Defenses on Machine Learning Models" (NDSS). Adversary 3 (sec. V): a threshold on the
largest posterior, with no shadow model and no data."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, Needs, ThreatModel, register_attack
from miaudit.kinds import CLASSIFIER, SignalThreshold
from miaudit.outputs import ModelOutputs
from miaudit.signals import probability_log_odds
from miaudit.validation import Interval


@register_attack
class ConfidenceAttack(Attack):
    """ML-Leaks adversary 3: a threshold on the max posterior max_c f(x)_c (survey eq. 1).

    Score: the log-odds of the max posterior, ``log p_max - log(1 - p_max)``
    (:func:`~miaudit.signals.max_confidence_log_odds`), an increasing function of the max
    posterior, so ROC metrics are those of the max posterior wherever float64 tells the
    records' max posteriors apart; but exact at any margin, where the max posterior itself
    reads exactly 1.0 beyond a logit margin of ~37 and ties every such record (issue 9
    item 4).

    Threshold choice (Salem et al. 2019, sec. V-B): the attacker queries the target on
    random inputs, which are non-members, and takes the ``percentile``-th percentile of
    their max posteriors as the threshold (member iff max posterior >= threshold).
    ``threshold_`` is that same percentile of the max posteriors, transformed as the
    scores are (:func:`~miaudit.signals.probability_log_odds`), so "score >= threshold_" is
    the paper's decision: precision and recall at the threshold are unchanged, except for
    records whose max posterior is within float64 rounding of the threshold. A threshold of
    1.0 (the percentile falls among saturated random queries) becomes 53 ln 2, from which
    float64 reads a max posterior as 1.0, so exactly the records that read 1.0 pass it.
    Without random queries the attack stays threshold-free (ROC metrics are unaffected).

    Args:
        percentile: percentile (0-100) of the random queries' max posteriors used as the
            threshold; the paper explores several and finds high percentiles work well.
    """

    name = "confidence"
    requires = Needs(random_queries=True)
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
            random = CLASSIFIER.signals(knowledge.random_queries, ("max_confidence",))
            threshold = np.percentile(random["max_confidence"], self.percentile)
            self.threshold_ = float(probability_log_odds(threshold))
        return self

    #: the score on any kind's signals
    signal_rule: ClassVar[SignalThreshold] = SignalThreshold(
        "max_confidence_log_odds", member_if="high"
    )

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.signal_rule.score_answers(CLASSIFIER, outputs)
