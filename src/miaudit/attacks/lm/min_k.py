"""Min-K% Prob (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models",
ICLR) and Min-K%++ (Zhang et al. 2025, "Min-K%++: Improved Baseline for Detecting
Pre-Training Data from Large Language Models", ICLR)."""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import LMNeeds, SmallestTokensLMAttack, register_lm_attack

SHI = "Shi et al. 2024, Detecting Pretraining Data from Large Language Models (ICLR)"
ZHANG = "Zhang et al. 2025, Min-K%++: Improved Baseline for Detecting Pre-Training Data (ICLR)"


@register_lm_attack
class MinK(SmallestTokensLMAttack):
    """Score = the mean of the K% smallest token log-probabilities of the record (Shi et
    al. 2024, eq. 1; K = 20 by default, their recommended value). Members have fewer
    outlier tokens of very low probability.

    Args:
        k: percentage of the record's tokens, in (0, 100].
    """

    name = "min_k"
    requires = LMNeeds(signals=("token_logp",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=SHI,
    )


@register_lm_attack
class MinKPlusPlus(SmallestTokensLMAttack):
    """Score = the mean of the K% smallest calibrated token scores (log p_i - mu_i) /
    sigma_i, mu_i and sigma_i the mean and std of log p under the model's next-token
    distribution (Zhang et al. 2025, eq. 2-4; K = 20 by default).

    Args:
        k: percentage of the record's tokens, in (0, 100].
    """

    name = "min_k_pp"
    requires = LMNeeds(signals=("token_calibrated",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=ZHANG,
    )
