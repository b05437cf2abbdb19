"""Salem et al. 2019, "ML-Leaks: Model and Data Independent Membership Inference Attacks and
Defenses on Machine Learning Models" (NDSS): adversary 1 (one shadow model, sec. III) and
adversary 2 (a shadow model trained on another data set, sec. IV). Adversary 3 is the
``confidence`` attack in :mod:`miaudit.attacks.salem`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neural_network import MLPClassifier

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    Reads,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.attacks.shokri import fit_binary, member_probability, shadow_attack_data
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs
from miaudit.validation import Interval

ML_LEAKS = "Salem et al. 2019, ML-Leaks (NDSS)"


def top_k_posteriors(probs: np.ndarray, k: int) -> np.ndarray:
    """The k largest posteriors of each row in descending order, float64 (n, k).

    Rows with fewer than k classes are padded with zeros on the right (a missing class has
    posterior 0), so outputs of data sets with different class counts share one feature
    space (Salem et al. 2019, sec. IV: "we only use the top 3 posteriors").
    """
    probs = np.asarray(probs, dtype=np.float64)
    n, c = probs.shape
    top = -np.sort(-probs, axis=1)[:, : min(k, c)]
    if c >= k:
        return top
    return np.concatenate([top, np.zeros((n, k - c))], axis=1)


def _attack_mlp(seed: int) -> MLPClassifier:
    """The ML-Leaks attack model: an MLP with one hidden layer of 64 units (sec. III-A).

    The paper states the MLP; the authors' released code (AhmedSalem2/ML-Leaks,
    ``trainAttackModel``) passes ``n_hidden=64`` but ``model='softmax'`` (logistic
    regression). We follow the paper. scikit-learn defaults otherwise (ReLU, Adam, lr 1e-3),
    up to 200 epochs.
    """
    return MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=seed)


class _MLLeaksBase(Attack):
    top_k: int
    param_constraints = {"top_k": Interval(int, 1)}

    def _fit_attack(self, knowledge: AttackerKnowledge, *, same_task: bool) -> None:
        reference = self._reference(knowledge)
        super().fit(knowledge)
        shadow, member = shadow_attack_data(
            reference, self.name, num_classes=knowledge.num_classes if same_task else None
        )
        self.k_ = self._k(knowledge.num_classes)
        features = top_k_posteriors(shadow.probs, self.k_)
        self.attack_model_: Any = fit_binary(_attack_mlp(knowledge.seed), features, member)
        self.threshold_ = 0.5

    def _k(self, num_classes: int) -> int:
        raise NotImplementedError

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return member_probability(self.attack_model_, top_k_posteriors(outputs.probs, self.k_))


@register_attack
class MLLeaks1(_MLLeaksBase):
    """ML-Leaks adversary 1 (Salem et al. 2019, sec. III): one shadow model trained on half
    of the attacker's data from the target's distribution, the other half its non-members;
    the attack model (an MLP, one hidden layer of 64) sees the top-k posteriors sorted in
    descending order, trained on shadow in (1) vs out (0); score = its P(member),
    ``threshold_ = 0.5``.

    ``top_k`` is capped at the number of classes (a 2-class task has only 2 posteriors).

    Args:
        top_k: number of largest posteriors used (the paper: 3).
    """

    name = "ml_leaks_1"
    requires = Needs(reference="shadow", reads=Reads(pool=True))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=False,
        paper=f"{ML_LEAKS}, adversary 1",
    )

    def __init__(self, *, top_k: int = 3) -> None:
        self.top_k = top_k

    def reference_request(self) -> ReferenceRequest:
        return ReferenceRequest(kind="shadow", num_models=1)

    def _k(self, num_classes: int) -> int:
        return min(int(self.top_k), num_classes)

    def fit(self, knowledge: AttackerKnowledge) -> MLLeaks1:
        self.check_params()
        self._fit_attack(knowledge, same_task=True)
        return self


@register_attack
class MLLeaks2(_MLLeaksBase):
    """ML-Leaks adversary 2, "data transferring" (Salem et al. 2019, sec. IV): as adversary
    1, but the shadow model is trained on another data set (``shadow_dataset``), possibly
    with another number of classes. It works because the attack model only sees the sorted
    top-k posteriors, which do not depend on what the classes are.

    Features are always k wide: a data set with fewer than k classes is padded with zero
    posteriors (:func:`top_k_posteriors`), so the shadow's and the target's features line up
    whatever their class counts. If the shadow outputs name their data set
    (``reference.foreign``), it must be ``shadow_dataset``.

    Args:
        shadow_dataset: name of the data set the shadow model trains on (required).
        top_k: number of largest posteriors used (the paper: 3).
    """

    name = "ml_leaks_2"
    requires = Needs(reference="shadow", params=("shadow_dataset",), reads=Reads(pool=True))
    example_params = {"shadow_dataset": "other"}
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=f"{ML_LEAKS}, adversary 2",
    )

    def __init__(self, *, shadow_dataset: str | None = None, top_k: int = 3) -> None:
        self.shadow_dataset = shadow_dataset
        self.top_k = top_k

    def _check_dataset(self) -> str:
        if not self.shadow_dataset or not isinstance(self.shadow_dataset, str):
            raise ConfigError(
                "ml_leaks_2: shadow_dataset is required: the name of another data set to train "
                "the shadow model on, e.g. params: {shadow_dataset: cifar10}"
            )
        return self.shadow_dataset

    def reference_request(self) -> ReferenceRequest:
        return ReferenceRequest(kind="shadow", num_models=1, dataset=self._check_dataset())

    def _k(self, num_classes: int) -> int:
        return int(self.top_k)

    def fit(self, knowledge: AttackerKnowledge) -> MLLeaks2:
        dataset = self._check_dataset()
        self.check_params()
        reference = self._reference(knowledge)
        if reference.foreign is not None and reference.foreign != dataset:
            raise DataError(
                f"ml_leaks_2: the shadow model was trained on {reference.foreign!r} but "
                f"shadow_dataset is {dataset!r}"
            )
        self._fit_attack(knowledge, same_task=False)
        return self
