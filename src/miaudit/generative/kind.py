"""The generator kind (issue 14): records are images (n, C, H, W); a GAN target's answers
are its discriminator's logits on them (white-box) and each record's distance to the
nearest of k seeded generated samples (black-box); the signals are LOGAN's and GAN-Leaks'
(REFERENCES.md, "Generative models")."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError
from miaudit.generative.distances import nearest_distances
from miaudit.generative.target import DEFAULT_BATCH, GANTarget
from miaudit.kinds import Signals, resolve_names
from miaudit.validation import check_int


@dataclass(frozen=True, eq=False)
class GANAnswers:
    """A GAN target's answers on n image records.

    Attributes:
        n: number of records.
        discriminator_logit: float64 (n,), D's logit on each record, or None (not asked:
            a black-box query).
        nearest_distance: float64 (n,), the Euclidean distance from each record to the
            nearest of ``samples`` generated images, or None (no samples asked for).
        samples: generated samples drawn for this answer (the generator's query count).
        seconds: wall time of the query (sampling, distances, discriminator).
    """

    n: int
    discriminator_logit: np.ndarray | None
    nearest_distance: np.ndarray | None
    samples: int
    seconds: float


class GeneratorKind:
    """GAN targets (miaudit's DCGAN recipe and user generator/discriminator pairs).

    ``query(target, images)``: with ``white_box``, the target's discriminator on each image
    (DataError when the target has none); with ``k``, ``k`` generated samples (seeded by
    ``seed``, drawn in batches) and each image's nearest-sample distance. Signals:

    * ``discriminator_score``: D's logit (n,) (LOGAN, Hayes et al. 2019: high = member;
      the logit ranks records as D's probability does, without its saturation at 1);
    * ``reconstruction_distance``: min_i ||x - G(z_i)||_2 (n,) (GAN-Leaks full black-box,
      Chen et al. 2020: low = member).
    """

    name = "generator"
    signal_names: tuple[str, ...] = ("discriminator_score", "reconstruction_distance")

    def __init__(
        self,
        *,
        white_box: bool = False,
        k: int | None = None,
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.white_box = bool(white_box)
        self.k = (
            None if k is None else check_int(k, "k (generated samples)", low=1, error=DataError)
        )
        self.seed = check_int(seed, "seed", low=0, error=DataError)
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)

    def query(self, target: GANTarget, records: np.ndarray) -> GANAnswers:
        if not isinstance(target, GANTarget):
            raise DataError(f"the generator kind queries a GANTarget, got {type(target).__name__}")
        start = time.perf_counter()
        x = target.check_records(records)
        logit = target.discriminate(x, batch_size=self.batch_size) if self.white_box else None
        dist = None
        if self.k is not None:
            samples = target.sample(self.k, seed=self.seed, batch_size=self.batch_size)
            dist = nearest_distances(x, samples)
        seconds = time.perf_counter() - start
        return GANAnswers(len(x), logit, dist, self.k or 0, seconds)

    def signals(self, answers: GANAnswers, names: Sequence[str] | None = None) -> Signals:
        if not isinstance(answers, GANAnswers):
            raise DataError(f"the generator kind reads GANAnswers, got {type(answers).__name__}")
        values: dict[str, np.ndarray] = {}
        for name in resolve_names(self, names):
            if name == "discriminator_score":
                if answers.discriminator_logit is None:
                    raise DataError(
                        "discriminator_score needs the target's discriminator "
                        "(a white-box query: GeneratorKind(white_box=True))"
                    )
                values[name] = answers.discriminator_logit
            else:  # reconstruction_distance
                if answers.nearest_distance is None:
                    raise DataError(
                        "reconstruction_distance needs generated samples "
                        "(GeneratorKind(k=number of samples))"
                    )
                values[name] = answers.nearest_distance
        return Signals(answers.n, values)

    def __repr__(self) -> str:
        return f"<GeneratorKind white_box={self.white_box} k={self.k} seed={self.seed}>"
