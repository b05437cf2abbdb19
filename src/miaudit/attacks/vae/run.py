"""Running one VAE attack end to end: check the inputs, query the target (white-box or
its black-box view), fit, score, and count the cost (generated samples, seconds)."""

from __future__ import annotations

import time

import numpy as np

from miaudit.attacks.gan.run import GANAttackRun
from miaudit.attacks.vae.base import VAEAttack
from miaudit.errors import DataError
from miaudit.generative import VAETarget
from miaudit.kinds import measure

#: the run record is the GAN attacks' (attack, params, scores, samples, seconds): generic
VAEAttackRun = GANAttackRun


def run_vae_attack(
    attack: VAEAttack, target: VAETarget, records: np.ndarray, *, seed: int = 0
) -> GANAttackRun:
    """``attack``'s scores on ``records`` (n, C, H, W) against ``target``. A white-box
    attack needs the target's encoder (DataError otherwise); a black-box one sees only
    ``target.black_box()``'s samples. ``seed`` is unused by the current attacks (their
    own ``seed`` parameter seeds them); kept for the GAN runner's signature."""
    attack.check_params()
    needs = attack.needs()
    if not isinstance(target, VAETarget):
        raise DataError(f"run_vae_attack needs a VAETarget, got {type(target).__name__}")
    x = target.check_records(records)
    if needs.access == "white-box" and not target.white_box:
        raise DataError(
            f"{attack.name} is white-box: it needs the VAE's encoder, and this target has "
            "none (give VAETarget(..., encoder=E), or run monte_carlo)"
        )
    kind = attack.kind()
    start = time.perf_counter()
    queried = target if needs.access == "white-box" else target.black_box()
    signals = measure(kind, queried, x, needs.signals)
    scores = attack.fit(None).score_samples(signals)
    return GANAttackRun(
        attack.name, attack.get_params(), scores, queried.samples_drawn, time.perf_counter() - start
    )
