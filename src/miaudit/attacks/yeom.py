"""Yeom et al. 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (IEEE CSF): the gap (baseline) attack and the loss-threshold attack."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, Needs, ThreatModel, register_attack
from miaudit.kinds import CLASSIFIER, SignalThreshold
from miaudit.outputs import ModelOutputs

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
    #: it reads the predicted label only, so it runs on label-only targets too
    requires: ClassVar[Needs] = Needs(labels_suffice=True)

    def fit(self, knowledge: AttackerKnowledge) -> GapAttack:
        super().fit(knowledge)
        self.threshold_ = 1.0
        return self

    #: the score on any kind's signals (here the classifier kind's correctness)
    signal_rule: ClassVar[SignalThreshold] = SignalThreshold("correctness", member_if="high")

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.signal_rule.score_answers(CLASSIFIER, outputs)


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

    #: the score on any kind's signals: an LM's sequence loss is scored the same way
    signal_rule: ClassVar[SignalThreshold] = SignalThreshold("loss", member_if="low")

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.signal_rule.score_answers(CLASSIFIER, outputs)
