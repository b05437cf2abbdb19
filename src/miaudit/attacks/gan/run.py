"""Running one GAN attack end to end: query the target (or the attacker's surrogate GAN),
train the reference generator when the attack declares one, fit, score, and count the
cost (generated samples, seconds). Nothing is trained before the inputs are checked."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from miaudit.attacks.gan.base import GANAttack, GANKnowledge
from miaudit.attacks.gan.logan import LoganBlackBox
from miaudit.errors import DataError
from miaudit.generative import DCGANRecipe, GANTarget, check_images, train_dcgan
from miaudit.kinds import measure


@dataclass(frozen=True)
class GANAttackRun:
    """One GAN attack's scores on the audited records and what they cost.

    Attributes:
        attack: the attack's name; ``params``: its parameters (k, seed, ...).
        scores: float64 (n,), higher = more likely a member.
        samples: generated samples drawn, from the target and from the reference generator
            (the generator's query count; the discriminator's queries are n per record set).
        seconds: wall time, training the reference or surrogate GAN included.
        train_seconds: of which training (reference or surrogate GAN).
    """

    attack: str
    params: dict[str, Any]
    scores: np.ndarray
    samples: int
    seconds: float
    train_seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())


def run_gan_attack(
    attack: GANAttack,
    target: GANTarget,
    records: np.ndarray,
    *,
    recipe: DCGANRecipe | None = None,
    population: np.ndarray | None = None,
    reference: GANTarget | None = None,
    seed: int = 0,
) -> GANAttackRun:
    """``attack``'s scores on ``records`` (n, C, H, W) against ``target``.

    A white-box attack queries the target's discriminator (DataError when it has none); a
    black-box one sees only ``target.black_box()``'s samples. The calibrated GAN-Leaks
    trains a reference generator with ``recipe`` (as given, its seed too) on
    ``population`` (the attacker's records from the same distribution, none of ``records``
    in the usual audit), unless ``reference`` gives one already trained (an audit running
    several calibrated attacks trains it once); LOGAN black-box trains its own DCGAN on the
    target's samples. Every input is checked first."""
    attack.check_params()
    needs = attack.needs()
    x = target.check_records(records)
    if needs.access == "white-box" and not target.white_box:
        raise DataError(
            f"{attack.name} is white-box: it needs the target's discriminator, and this GAN "
            "target has none (give GANTarget(..., discriminator=D), or run a black-box attack)"
        )
    pop = None
    if needs.reference and reference is None:
        if population is None or recipe is None:
            raise DataError(
                f"{attack.name} calibrates with a reference generator: give population "
                "(the attacker's images from the same distribution) and recipe (how to train it)"
            )
        pop = target.check_records(check_images(population, "population"))
    elif needs.reference and tuple(reference.record_shape) != tuple(target.record_shape):
        raise DataError(
            f"the reference generator makes images of shape {reference.record_shape}, "
            f"the target {target.record_shape}"
        )
    start = time.perf_counter()
    train_seconds = 0.0
    queried = target if needs.access == "white-box" else target.black_box()
    samples = 0
    knowledge = GANKnowledge(seed=seed)
    if needs.surrogate:
        if not isinstance(attack, LoganBlackBox):
            raise TypeError(f"{attack.name}: only LOGAN black-box trains a surrogate GAN")
        generated = queried.sample(attack.k, seed=attack.seed)
        samples += attack.k
        surrogate, history = train_dcgan(attack.surrogate_recipe(target.latent_dim), generated)
        train_seconds += history.seconds
        queried = surrogate
    if needs.reference:
        if reference is None:
            assert pop is not None and recipe is not None
            reference, history = train_dcgan(recipe, pop)
            train_seconds += history.seconds
        ref_view = reference.black_box()
        knowledge = GANKnowledge(
            reference=measure(attack.kind(), ref_view, x, needs.signals), seed=seed
        )
        samples += ref_view.samples_drawn
    before = queried.samples_drawn
    signals = measure(attack.kind(), queried, x, needs.signals)
    if not needs.surrogate:
        samples += queried.samples_drawn - before
    scores = attack.fit(knowledge).score_samples(signals)
    return GANAttackRun(
        attack.name,
        attack.get_params(),
        scores,
        samples,
        time.perf_counter() - start,
        train_seconds,
    )
