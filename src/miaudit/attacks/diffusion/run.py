"""Running one diffusion attack end to end: check the timesteps against the target's T,
query its denoiser, fit, score, and count the cost (forward passes, seconds)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.attacks.diffusion.base import DiffusionAttack
from miaudit.generative import DiffusionTarget
from miaudit.kinds import measure


@dataclass(frozen=True)
class DiffusionAttackRun:
    """One diffusion attack's scores on the audited records and what they cost.

    Attributes:
        attack: the attack's name; ``params``: its parameters.
        scores: float64 (n,), higher = more likely a member.
        queries: the denoiser's forward passes (one per image per call).
        seconds: wall time.
    """

    attack: str
    params: dict[str, Any]
    scores: np.ndarray
    queries: int
    seconds: float


def run_diffusion_attack(
    attack: DiffusionAttack, target: DiffusionTarget, records: np.ndarray
) -> DiffusionAttackRun:
    """``attack``'s scores on ``records`` (n, C, H, W) in [0, 1] against ``target``. The
    parameters, the timesteps (within [0, T - 1]) and the records are checked before the
    first query."""
    attack.check_params()
    kind = attack.kind()
    kind.check_target(target)
    x = target.check_records(records)
    start = time.perf_counter()
    before = target.queries
    signals = measure(kind, target, x, attack.signals)
    scores = attack.fit(None).score_samples(signals)
    return DiffusionAttackRun(
        attack.name,
        attack.get_params(),
        scores,
        target.queries - before,
        time.perf_counter() - start,
    )
