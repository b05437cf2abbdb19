"""GAN-Leaks: Chen, Yu, Zhang and Fritz 2020, "GAN-Leaks: A Taxonomy of Membership
Inference Attacks against Generative Models" (CCS), the full black-box attack and its
attack calibration (section numbers are not cited: unchecked against the paper).

The attacker draws k samples G(z_1..z_k) of the target generator; the reconstruction of a
record x is its nearest sample, R(x|G) = argmin_i L2(x, G(z_i)), and the attack calls x a
member when the reconstruction error L(x, R(x|G)) is small (the paper's eq. for Pr(x|G)
approximated by exp(-L); score = -L). The distance is Euclidean on the flattened images,
as the authors' ``fbb.py``.

Calibration: a reference generator G_r trained on the attacker's population
records (same distribution, none of the audited records) measures how hard x is to
reconstruct in general, and the calibrated error is L_cal(x) = L(x, R(x|G)) -
L(x, R(x|G_r)); score = -L_cal. The reference generator is trained here with the target's
recipe (the paper trains it with the victim's architecture on reference data), and queried
with the same k and seed as the target.
"""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.gan.base import (
    GANAttack,
    GANKnowledge,
    GANNeeds,
    ThresholdGANAttack,
    register_gan_attack,
)
from miaudit.errors import DataError
from miaudit.generative import GeneratorKind
from miaudit.kinds import Signals, SignalThreshold
from miaudit.validation import Interval

GAN_LEAKS = (
    "Chen et al. 2020, GAN-Leaks: A Taxonomy of Membership Inference Attacks against "
    "Generative Models (CCS)"
)

_K = Interval(int, 1)
_SEED = Interval(int, 0)


@register_gan_attack
class GANLeaksFullBlackBox(ThresholdGANAttack):
    """Score = -min_i ||x - G(z_i)||_2 over ``k`` seeded generated samples.

    Args:
        k: generated samples (the paper uses up to 100k; AUC grows with k).
        seed: seeds the latent codes z_i.
    """

    name = "gan_leaks_fbb"
    requires = GANNeeds(access="samples", signals=("reconstruction_distance",))
    threat_model = ThreatModel(
        knowledge="black-box samples",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=GAN_LEAKS + ", full black-box attack",
    )
    param_constraints = {"k": _K, "seed": _SEED}
    rule = SignalThreshold("reconstruction_distance", "low")

    def __init__(self, *, k: int = 10_000, seed: int = 0) -> None:
        self.k = k
        self.seed = seed

    def kind(self) -> GeneratorKind:
        return GeneratorKind(k=self.k, seed=self.seed)


@register_gan_attack
class GANLeaksCalibrated(GANAttack):
    """Score = -(L(x, R(x|G)) - L(x, R(x|G_r))): the full black-box error minus a reference
    generator's, both over ``k`` samples seeded by ``seed``.

    Args:
        k: generated samples of each generator.
        seed: seeds the latent codes of both generators.
    """

    name = "gan_leaks_calibrated"
    requires = GANNeeds(access="samples", signals=("reconstruction_distance",), reference=True)
    threat_model = ThreatModel(
        knowledge="black-box samples",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=GAN_LEAKS + ", attack calibration on the full black-box attack",
    )
    param_constraints = {"k": _K, "seed": _SEED}

    def __init__(self, *, k: int = 10_000, seed: int = 0) -> None:
        self.k = k
        self.seed = seed

    def kind(self) -> GeneratorKind:
        return GeneratorKind(k=self.k, seed=self.seed)

    def fit(self, knowledge: GANKnowledge) -> GANLeaksCalibrated:
        super().fit(knowledge)
        if knowledge.reference is None:
            raise DataError(
                f"{self.name}: needs the reference generator's reconstruction distances "
                "(GANKnowledge.reference: a GAN trained on population records)"
            )
        self.reference_distance_ = np.asarray(knowledge.reference["reconstruction_distance"])
        return self

    def _score(self, signals: Signals) -> np.ndarray:
        dist = np.asarray(signals["reconstruction_distance"])
        if dist.shape != self.reference_distance_.shape:
            raise DataError(
                f"{self.name}: {dist.shape[0]} target records but the reference generator "
                f"was queried on {self.reference_distance_.shape[0]}"
            )
        return -(dist - self.reference_distance_)
