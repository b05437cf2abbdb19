"""Min-K% Prob (Shi et al. 2024, "Detecting Pretraining Data from Large Language Models",
ICLR) and Min-K%++ (Zhang et al. 2025, "Min-K%++: Improved Baseline for Detecting
Pre-Training Data from Large Language Models", ICLR)."""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import (
    LMAttack,
    LMNeeds,
    register_lm_attack,
    smallest_fraction_mean,
)
from miaudit.kinds import Signals
from miaudit.validation import Interval

SHI = "Shi et al. 2024, Detecting Pretraining Data from Large Language Models (ICLR)"
ZHANG = "Zhang et al. 2025, Min-K%++: Improved Baseline for Detecting Pre-Training Data (ICLR)"


@register_lm_attack
class MinK(LMAttack):
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
    param_constraints = {"k": Interval(float, 0, 100, closed="right")}

    def __init__(self, *, k: float = 20.0) -> None:
        self.k = k

    def _score(self, signals: Signals) -> np.ndarray:
        return smallest_fraction_mean(
            signals["token_logp"], signals.mask("token_logp"), float(self.k)
        )


@register_lm_attack
class MinKPlusPlus(LMAttack):
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
    param_constraints = {"k": Interval(float, 0, 100, closed="right")}

    def __init__(self, *, k: float = 20.0) -> None:
        self.k = k

    def _score(self, signals: Signals) -> np.ndarray:
        return smallest_fraction_mean(
            signals["token_calibrated"], signals.mask("token_calibrated"), float(self.k)
        )
