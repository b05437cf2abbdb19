"""Carlini et al. 2021 (USENIX Security), sec. 6.1, "Lowercase": the ratio of the
log-perplexity of the text to that of its lower-cased version; memorised text is far more
likely as written than lower-cased, so a low ratio says member."""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import LMNeeds, ThresholdLMAttack, register_lm_attack
from miaudit.attacks.lm.zlib import CARLINI_2021
from miaudit.kinds import SignalThreshold


@register_lm_attack
class LowercaseRatio(ThresholdLMAttack):
    """Score = -(loss(x) / loss(lower(x))); one extra query per record."""

    name = "lowercase_ratio"
    requires = LMNeeds(signals=("lowercase_ratio",), lowercase=True)
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=CARLINI_2021,
    )

    rule = SignalThreshold("lowercase_ratio", "low")
