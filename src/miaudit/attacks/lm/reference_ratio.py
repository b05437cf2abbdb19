"""The reference-model attack on language models: Carlini et al. 2021 (USENIX Security),
sec. 6.1 "Small"/"Medium" (the ratio of the target's log-perplexity to a reference model's),
and Mireshghallah et al. 2022, "Quantifying Privacy Risks of Masked Language Models Using
Membership Inference Attacks" (EMNLP) (the difference of losses, a likelihood-ratio test).

A record the target finds much likelier than a reference LM trained on other data from the
same distribution is called a member: the reference cancels how easy the text is.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lm.base import (
    LMAttack,
    LMKnowledge,
    LMNeeds,
    register_lm_attack,
)
from miaudit.attacks.lm.zlib import CARLINI_2021
from miaudit.errors import DataError
from miaudit.kinds import Signals
from miaudit.validation import Interval, Options

MIRESHGHALLAH = (
    "Mireshghallah et al. 2022, Quantifying Privacy Risks of Masked Language Models Using "
    "Membership Inference Attacks (EMNLP); " + CARLINI_2021
)


@register_lm_attack
class ReferenceRatio(LMAttack):
    """Score = -(loss_target(x) - loss_ref(x)) (``form="difference"``, Mireshghallah et
    al. 2022) or -(loss_target(x) / loss_ref(x)) (``"ratio"``, Carlini et al. 2021).

    The reference LMs are trained by the reference engine with the target's recipe on the
    attacker's population records (none of the audited records); with several, loss_ref is
    their mean.

    Args:
        form: "difference" or "ratio".
        num_models: reference LMs to train (default 1, as the papers use one).
    """

    name = "reference_ratio"
    requires = LMNeeds(signals=("loss",), reference="population", reference_signals=("loss",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=MIRESHGHALLAH,
    )
    param_constraints = {
        "form": Options(("difference", "ratio")),
        "num_models": Interval(int, 1),
    }

    def __init__(
        self, *, form: Literal["difference", "ratio"] = "difference", num_models: int = 1
    ) -> None:
        self.form = form
        self.num_models = num_models

    def fit(self, knowledge: LMKnowledge) -> ReferenceRatio:
        super().fit(knowledge)
        ref = self._reference(knowledge)
        if ref.audited_in.any():
            raise DataError(
                "reference_ratio: a reference LM trained on audited records; it needs "
                "models trained on the attacker's population only"
            )
        self.reference_loss_ = ref.stack("loss").mean(axis=1)
        return self

    def _score(self, signals: Signals) -> np.ndarray:
        loss = np.asarray(signals["loss"])
        if loss.shape != self.reference_loss_.shape:
            raise DataError(
                f"reference_ratio: {loss.shape[0]} target records but the reference LMs "
                f"were queried on {self.reference_loss_.shape[0]}"
            )
        if self.form == "ratio":
            return -(loss / np.maximum(self.reference_loss_, 1e-12))
        return -(loss - self.reference_loss_)
