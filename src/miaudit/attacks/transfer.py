"""The loss-threshold attack with a transferred threshold: the survey's eq. 4 (attributed to
Li & Zhang 2021, CCS), after Yeom et al. 2018 (CSF), sec. 3.3: member iff loss(x, y) < tau,
with tau the mean training loss of shadow models the attacker trains itself."""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    Reads,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs
from miaudit.signals import loss
from miaudit.validation import Interval


@register_attack
class TransferLoss(Attack):
    """Score = -loss(x, y); ``threshold_ = -tau`` with tau the mean over shadow models of
    their mean cross-entropy on their own training sets (``ReferenceOutputs.train_loss``).

    So "score >= threshold_" is "loss <= tau", the paper's rule (member iff loss < tau; the
    two differ only on exact ties), and precision/recall at ``threshold_`` are those of the
    paper's attack. Yeom et al. assume the attacker knows the target's average training
    loss; the transfer form estimates it with shadow models trained like the target.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``).
    """

    name = "transfer_loss"
    requires = Needs(reference="shadow", reads=Reads())  # the shadows' training losses
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        # tau estimates the target's training loss, which depends on the model and its
        # training; the shadows imitate the target's architecture and training.
        needs_architecture=True,
        paper="Li & Zhang 2021 (CCS), the survey's eq. 4; Yeom et al. 2018 (CSF), sec. 3.3",
    )

    param_constraints = {"num_models": Interval(int, 1)}

    def __init__(self, *, num_models: int | None = None) -> None:
        self.num_models = num_models

    def reference_request(self) -> ReferenceRequest:
        return ReferenceRequest(kind="shadow", num_models=self.num_models)

    def fit(self, knowledge: AttackerKnowledge) -> TransferLoss:
        self.check_params()
        reference = self._reference(knowledge)
        super().fit(knowledge)
        train_loss = reference.train_loss
        if train_loss.size == 0 or not np.all(np.isfinite(train_loss)):
            raise DataError(
                "transfer_loss: the shadow models' training losses are missing or not finite "
                f"({train_loss.tolist()[:5]})"
            )
        self.tau_ = float(np.mean(train_loss))
        self.threshold_ = -self.tau_
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return -loss(outputs)
