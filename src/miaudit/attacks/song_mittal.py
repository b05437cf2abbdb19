"""Song & Mittal 2021, "Systematic Evaluation of Privacy Risks of Machine Learning Models"
(USENIX Security): metric-based attacks on the prediction entropy and the modified
entropy. These are the uncalibrated (global, threshold-free) forms; the per-class
thresholds learned on shadow models are the ``calibrated_*`` attacks."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from miaudit.attacks.base import Attack, ThreatModel, register_attack
from miaudit.kinds import CLASSIFIER, SignalThreshold
from miaudit.outputs import ModelOutputs

SONG_MITTAL = "Song & Mittal 2021, Systematic Evaluation of Privacy Risks (USENIX Security)"


@register_attack
class EntropyAttack(Attack):
    """Score = -H(f(x)) (Song & Mittal 2021, eq. 7; Salem et al. 2019): members get
    lower-entropy predictions. Uses no label, so it works on any input."""

    name = "entropy"
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=SONG_MITTAL,
    )

    #: the score on any kind's signals
    signal_rule: ClassVar[SignalThreshold] = SignalThreshold("entropy", member_if="low")

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.signal_rule.score_answers(CLASSIFIER, outputs)


@register_attack
class ModifiedEntropyAttack(Attack):
    """Score = -Mentr(f(x), y) (Song & Mittal 2021, eq. 8), which, unlike entropy, also
    penalises confident wrong predictions:
    Mentr = -(1 - f(x)_y) log f(x)_y - sum_{i != y} f(x)_i log(1 - f(x)_i)."""

    name = "modified_entropy"
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=SONG_MITTAL,
    )

    #: the score on any kind's signals
    signal_rule: ClassVar[SignalThreshold] = SignalThreshold("modified_entropy", member_if="low")

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.signal_rule.score_answers(CLASSIFIER, outputs)
