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
from typing import Any, ClassVar, Literal

from miaudit.attacks._signal_attack import SignalAttack, ThresholdRule, make_registered
from miaudit.generative import GeneratorKind
from miaudit.kinds import Signals
from miaudit.registry import Registry

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


class GANAttack(SignalAttack):
    """Base class of the GAN attacks (scikit-learn style: the constructor stores keyword
    parameters, ``fit`` returns self, ``score_samples`` returns scores).

    ``kind()`` is the :class:`GeneratorKind` whose query gives the signals the attack reads
    (its ``k`` and seed are the attack's parameters, so they are recorded with it)."""

    requires: ClassVar[GANNeeds]

    def needs(self) -> GANNeeds:
        return self.requires

    def kind(self) -> GeneratorKind:
        """The query of the target (or surrogate) this attack reads."""
        raise NotImplementedError


class ThresholdGANAttack(ThresholdRule, GANAttack):
    """A GAN attack that is one threshold rule on one signal (:class:`SignalThreshold`)."""


GAN_ATTACKS: Registry[type[GANAttack]] = Registry("GAN attack")


def register_gan_attack(cls: type[GANAttack]) -> type[GANAttack]:
    return GAN_ATTACKS.register(cls.name)(cls)


def make_gan_attack(name: str, **params: Any) -> GANAttack:
    """A registered GAN attack by name (ConfigError for bad parameters, before anything
    trains)."""
    return make_registered(GAN_ATTACKS, name, **params)
