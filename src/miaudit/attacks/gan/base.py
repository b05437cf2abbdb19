"""The GAN attack contract (issue 14): what a GAN attack reads, what the attacker holds,
and the registry ``GAN_ATTACKS``.

A GAN attack reads named signals of the :class:`~miaudit.generative.GeneratorKind` on the
audited records: the target's own (LOGAN white-box, GAN-Leaks), or those of a GAN the
attacker trained on the target's generated samples (LOGAN black-box); the calibrated
GAN-Leaks also reads a reference generator's. Scores follow the project's convention:
float64 (n,), higher = more likely a member, whatever the paper's sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.errors import NotFittedError
from miaudit.generative import GeneratorKind
from miaudit.kinds import Signals, SignalThreshold
from miaudit.registry import Registry
from miaudit.validation import Constraints, validate_instance, validate_params

#: "white-box": the target's discriminator; "samples": generated samples only
GANAccess = Literal["white-box", "samples"]


@dataclass(frozen=True)
class GANNeeds:
    """What a GAN attack needs.

    Attributes:
        access: what of the target it queries ("white-box": the discriminator; "samples":
            generated samples only).
        signals: the signals it reads on the audited records.
        surrogate: the signals are read from the attacker's own GAN, trained on the
            target's generated samples (LOGAN black-box), not from the target.
        reference: a reference generator trained on the attacker's population records
            (GAN-Leaks' calibration), whose ``signals`` it reads too.
    """

    access: GANAccess
    signals: tuple[str, ...]
    surrogate: bool = False
    reference: bool = False


@dataclass(frozen=True)
class GANKnowledge:
    """What the attacker holds besides the audited records' signals: the reference
    generator's signals on the same records (when declared), and a seed."""

    reference: Signals | None = None
    seed: int = 0


class GANAttack:
    """Base class of the GAN attacks (scikit-learn style: the constructor stores keyword
    parameters, ``fit`` returns self, ``score_samples`` returns scores).

    ``kind()`` is the :class:`GeneratorKind` whose query gives the signals the attack reads
    (its ``k`` and seed are the attack's parameters, so they are recorded with it)."""

    name: ClassVar[str]
    threat_model: ClassVar[ThreatModel]
    requires: ClassVar[GANNeeds]
    param_constraints: ClassVar[dict[str, Constraints]] = {}

    def check_params(self) -> None:
        validate_instance(self, kind="attack")

    def needs(self) -> GANNeeds:
        return self.requires

    def kind(self) -> GeneratorKind:
        """The query of the target (or surrogate) this attack reads."""
        raise NotImplementedError

    def fit(self, knowledge: GANKnowledge) -> Self:
        self.check_params()
        self.fitted_ = True
        return self

    def score_samples(self, signals: Signals) -> np.ndarray:
        """Membership scores of the audited records, float64 (n,), higher = member."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"attack {self.name!r} is not fitted; call fit(knowledge) first")
        scores = np.asarray(self._score(signals), dtype=np.float64)
        if scores.shape != (signals.n,):
            raise RuntimeError(f"{self.name} returned scores of shape {scores.shape}")
        return scores

    def _score(self, signals: Signals) -> np.ndarray:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


class ThresholdGANAttack(GANAttack):
    """An attack that is one threshold rule on one signal (:class:`SignalThreshold`)."""

    rule: ClassVar[SignalThreshold]

    def _score(self, signals: Signals) -> np.ndarray:
        return self.rule.score_samples(signals)


GAN_ATTACKS: Registry[type[GANAttack]] = Registry("GAN attack")


def register_gan_attack(cls: type[GANAttack]) -> type[GANAttack]:
    return GAN_ATTACKS.register(cls.name)(cls)


def make_gan_attack(name: str, **params: Any) -> GANAttack:
    """A registered GAN attack by name (ConfigError for bad parameters, before anything
    trains)."""
    cls = GAN_ATTACKS.get(name)
    validate_params(cls, params, kind="attack", name=name)
    attack = cls(**params)
    attack.check_params()
    return attack
