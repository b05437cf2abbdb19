"""Membership-inference attacks on diffusion models (issue 14), one module per paper,
registered in :data:`DIFFUSION_ATTACKS`: ``diffusion_loss`` (Carlini et al. 2023;
Matsumoto et al. 2023), ``secmi`` (Duan et al. 2023) and ``pia`` (Kong et al. 2024).
:func:`run_diffusion_attack` runs one against a :class:`~miaudit.generative.DiffusionTarget`.
Threat model: query access to the denoiser eps_theta(x_t, t)."""

from miaudit.attacks.diffusion.base import (
    DIFFUSION_ATTACKS,
    DiffusionAttack,
    make_diffusion_attack,
)
from miaudit.attacks.diffusion.loss import DiffusionLoss
from miaudit.attacks.diffusion.pia import PIAAttack
from miaudit.attacks.diffusion.run import DiffusionAttackRun, run_diffusion_attack
from miaudit.attacks.diffusion.secmi import SecMI

__all__ = [
    "DIFFUSION_ATTACKS",
    "DiffusionAttack",
    "DiffusionAttackRun",
    "DiffusionLoss",
    "PIAAttack",
    "SecMI",
    "make_diffusion_attack",
    "run_diffusion_attack",
]
