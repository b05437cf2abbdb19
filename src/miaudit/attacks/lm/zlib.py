"""Carlini et al. 2021, "Extracting Training Data from Large Language Models" (USENIX
Security), sec. 6.1, "zlib": the ratio of the log-perplexity to the zlib entropy of the
text; a low ratio (likely under the model but not merely repetitive) says member."""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import LMNeeds, ThresholdLMAttack, register_lm_attack
from miaudit.kinds import SignalThreshold

CARLINI_2021 = (
    "Carlini et al. 2021, Extracting Training Data from Large Language Models (USENIX Security)"
)


@register_lm_attack
class ZlibRatio(ThresholdLMAttack):
    """Score = -(mean token loss / zlib bits of the text)."""

    name = "zlib_ratio"
    requires = LMNeeds(signals=("zlib_ratio",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=CARLINI_2021,
    )

    rule = SignalThreshold("zlib_ratio", "low")
