"""Yeom et al. 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (IEEE CSF): the gap (baseline) attack and the loss-threshold attack."""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, ThreatModel, register_attack
from miaudit.outputs import ModelOutputs
from miaudit.signals import correctness, loss

YEOM = "Yeom et al. 2018, Privacy Risk in Machine Learning (CSF)"


@register_attack
class GapAttack(Attack):
    """Baseline attack (Yeom et al. 2018, sec. 3.2): member iff the target classifies x correctly.

    Score = 1 for correctly classified records, 0 otherwise; the decision threshold is 1
    (members are the correctly classified records). On a balanced set its accuracy equals
    (train accuracy + 1 - test accuracy) / 2.
    """

    name = "gap"
    threat_model = ThreatModel(
        knowledge="black-box labels",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=YEOM,
    )

    def fit(self, knowledge: AttackerKnowledge) -> GapAttack:
        super().fit(knowledge)
        self.threshold_ = 1.0
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return correctness(outputs)


@register_attack
class LossAttack(Attack):
    """Loss-threshold attack (Yeom et al. 2018, sec. 3.3 / survey eq. 2): score = -loss(x, y).

    Threshold-free here: the metrics sweep every threshold. The transfer form, whose
    threshold is the shadow models' mean training loss, is the ``transfer_loss`` attack.
    """

    name = "loss"
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=YEOM,
    )

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return -loss(outputs)
