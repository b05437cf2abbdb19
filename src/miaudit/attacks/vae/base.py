"""The VAE attack contract (issue 14): what a VAE attack reads and the registry
``VAE_ATTACKS``. A VAE attack reads named signals of :class:`~miaudit.generative.VAEKind`
on the audited records; scores are float64 (n,), higher = more likely a member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from miaudit.attacks._signal_attack import SignalAttack, ThresholdRule, make_registered
from miaudit.generative import VAEKind
from miaudit.registry import Registry

#: "white-box": encoder and decoder ("full" access); "samples": generated samples only
VAEAccess = Literal["white-box", "samples"]


@dataclass(frozen=True)
class VAENeeds:
    """What a VAE attack needs: its ``access`` and the ``signals`` it reads."""

    access: VAEAccess
    signals: tuple[str, ...]


class VAEAttack(SignalAttack):
    """Base class of the VAE attacks; ``kind()`` is the query whose signals it reads (its
    sample counts and seed are the attack's parameters, recorded with it)."""

    requires: ClassVar[VAENeeds]

    def needs(self) -> VAENeeds:
        return self.requires

    def kind(self) -> VAEKind:
        raise NotImplementedError


class ThresholdVAEAttack(ThresholdRule, VAEAttack):
    """A VAE attack that is one threshold rule on one signal."""


VAE_ATTACKS: Registry[type[VAEAttack]] = Registry("VAE attack")


def register_vae_attack(cls: type[VAEAttack]) -> type[VAEAttack]:
    return VAE_ATTACKS.register(cls.name)(cls)


def make_vae_attack(name: str, **params: Any) -> VAEAttack:
    """A registered VAE attack by name (ConfigError for bad parameters, before anything
    trains)."""
    return make_registered(VAE_ATTACKS, name, **params)
