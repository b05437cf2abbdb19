"""Yeom et al. 2018, "Privacy Risk in Machine Learning: Analyzing the Connection to
Overfitting" (CSF), applied to sequences: a record with a low mean token loss (low
perplexity) is called a member."""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import LMNeeds, ThresholdLMAttack, register_lm_attack
from miaudit.kinds import SignalThreshold

YEOM = "Yeom et al. 2018, Privacy Risk in Machine Learning (CSF); on sequences"


@register_lm_attack
class SequenceLoss(ThresholdLMAttack):
    """Score = mean_i log p(x_i | x_<i), minus the mean token loss (higher = member)."""

    name = "lm_loss"
    requires = LMNeeds(signals=("loss",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=YEOM,
    )

    rule = SignalThreshold("loss", "low")
