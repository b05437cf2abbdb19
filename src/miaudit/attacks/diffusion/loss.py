"""The timestep-loss attack: Carlini et al. 2023, "Extracting Training Data from Diffusion
Models" (USENIX Security), sec. 6 (membership inference with the diffusion loss at a
chosen timestep), and Matsumoto, Miura and Yanai 2023, "Membership Inference Attacks
against Diffusion Models" (IEEE SPW), the loss-based attack.

Score = -mean over the chosen timesteps t and ``draws`` seeded noise draws eps of
||eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)||^2 (per-pixel mean; Ho et
al. 2020 eq. 14's loss). Carlini et al. find the loss most informative at small-to-middle
t (about 100 of T = 1000 on CIFAR-10) and average several noise draws; Matsumoto et al.
scan t. With several timesteps the losses are averaged (one timestep: exactly the paper's
statistic); the benchmark reports each timestep alone.
"""

from __future__ import annotations

import numpy as np

from miaudit.attacks.diffusion.base import (
    DiffusionAttack,
    denoiser_threat_model,
    register_diffusion_attack,
)
from miaudit.generative import DiffusionKind
from miaudit.kinds import Signals
from miaudit.validation import Interval, Items

CARLINI = (
    "Carlini et al. 2023, Extracting Training Data from Diffusion Models (USENIX Security), "
    "sec. 6; Matsumoto et al. 2023, Membership Inference Attacks against Diffusion Models"
)


@register_diffusion_attack
class DiffusionLoss(DiffusionAttack):
    """Score = -(the DDPM loss at ``timesteps``, averaged over ``draws`` noise draws).

    Args:
        timesteps: timestep indices in [0, T - 1] (default 100: Carlini et al.'s choice
            for T = 1000; scale it with T).
        draws: noise draws per timestep (seeded by ``seed``).
        seed: seeds the noise.
    """

    name = "diffusion_loss"
    signals = ("timestep_loss",)
    threat_model = denoiser_threat_model(CARLINI)
    param_constraints = {
        "timesteps": Items(Interval(int, 0)),
        "draws": Interval(int, 1),
        "seed": Interval(int, 0),
    }

    def __init__(self, *, timesteps: tuple[int, ...] = (100,), draws: int = 4, seed: int = 0):
        self.timesteps = timesteps
        self.draws = draws
        self.seed = seed

    def kind(self) -> DiffusionKind:
        return DiffusionKind(timesteps=self.timesteps, draws=self.draws, seed=self.seed)

    def _score(self, signals: Signals) -> np.ndarray:
        loss = np.asarray(signals["timestep_loss"])
        return -loss.reshape(signals.n, -1).mean(axis=1)
