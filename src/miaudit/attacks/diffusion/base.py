"""The diffusion attack contract (issue 14): what a diffusion attack reads, and the
registry ``DIFFUSION_ATTACKS``.

A diffusion attack reads named signals of the :class:`~miaudit.generative.DiffusionKind`
on the audited records, measured on the target's denoiser. Threat model of all three:
query access to eps_theta(x_t, t) at inputs and timesteps of the attacker's choice (what
the papers call white-box; no training data, no gradients, no reference models). Scores
follow the project's convention: float64 (n,), higher = more likely a member.
"""

from __future__ import annotations

from typing import Any, ClassVar

from miaudit.attacks._signal_attack import SignalAttack, ThresholdRule, make_registered
from miaudit.attacks.base import ThreatModel
from miaudit.generative import DiffusionKind
from miaudit.registry import Registry


def denoiser_threat_model(paper: str) -> ThreatModel:
    """Query access to the denoiser; nothing else."""
    return ThreatModel(
        knowledge="white-box",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=paper,
    )


class DiffusionAttack(SignalAttack):
    """Base class of the diffusion attacks (scikit-learn style: the constructor stores
    keyword parameters, ``fit`` returns self, ``score_samples`` returns scores).

    ``kind()`` is the :class:`DiffusionKind` whose query gives the signals the attack reads
    (its timesteps and seeds are the attack's parameters, so they are recorded with it)."""

    signals: ClassVar[tuple[str, ...]]

    def kind(self) -> DiffusionKind:
        raise NotImplementedError


class ThresholdDiffusionAttack(ThresholdRule, DiffusionAttack):
    """A diffusion attack that is one threshold rule on one (n,) signal."""


DIFFUSION_ATTACKS: Registry[type[DiffusionAttack]] = Registry("diffusion attack")


def register_diffusion_attack(cls: type[DiffusionAttack]) -> type[DiffusionAttack]:
    return DIFFUSION_ATTACKS.register(cls.name)(cls)


def make_diffusion_attack(name: str, **params: Any) -> DiffusionAttack:
    """A registered diffusion attack by name (ConfigError for bad parameters, before
    anything is queried)."""
    return make_registered(DIFFUSION_ATTACKS, name, **params)
