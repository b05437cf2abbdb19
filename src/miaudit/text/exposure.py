"""Measure the exposure of drawn canaries under a trained :class:`TorchLM` (Carlini et al.
2019, "The Secret Sharer": sec. 3 exact exposure, sec. 4.3 the skew-normal approximation);
the definitions are in :mod:`miaudit.text.canaries`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from miaudit.text._candidates import candidate_nll, enumerate_nll
from miaudit.text.canaries import (
    Canary,
    CanaryFormat,
    SkewNormalFit,
    exact_rank,
    exposure_from_rank,
)
from miaudit.text.lm import TorchLM

Method = Literal["exact", "estimate"]
#: default largest |R| scored exhaustively
EXACT_LIMIT = 10**6
#: default number of candidates sampled for the skew-normal fit
SAMPLE_SIZE = 10_000


@dataclass(frozen=True)
class CanaryExposure:
    """One canary's measurement. ``log_perplexity``: -log2 p(canary) in bits (the paper's
    unit); ``rank``: exact, or |R| * CDF for the estimate (a float, at least 1)."""

    text: str
    repetitions: int
    log_perplexity: float
    rank: float
    exposure: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExposureResult:
    """Exposures of every canary, how they were computed, and the scoring time."""

    canaries: tuple[CanaryExposure, ...]
    method: Method
    size: int
    log2_size: float
    scored: int
    seconds: float
    fit: SkewNormalFit | None = None


def measure_exposure(
    lm: TorchLM,
    fmt: CanaryFormat,
    canaries: Sequence[Canary],
    *,
    exact_limit: int = EXACT_LIMIT,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> ExposureResult:
    """Exposure of each canary: exact when |R| <= ``exact_limit`` (every candidate scored),
    else estimated from a skew-normal fit to ``sample_size`` seeded uniform candidates.

    The exact rank of a canary leaves out the *other* inserted canaries (repetitions > 0):
    the Secret Sharer inserts one canary per model, and here all of them share one model
    and one format, so without this 16 memorised canaries take each other's top ranks and
    cap each other's exposure near log2(|R| / 16) (measured on Tiny Shakespeare: 64
    repetitions reached ranks 1 to 5, not 1)."""
    start = time.perf_counter()
    texts = [c.text for c in canaries]
    to_bits = 1 / math.log(2)
    if fmt.size <= exact_limit:
        every = enumerate_nll(lm, fmt)
        nll = np.array([every[fmt.index(c.choice)] for c in canaries])
        inserted = np.array([c.repetitions > 0 for c in canaries])
        ranks = []
        for i, v in enumerate(nll):
            others = inserted.copy()
            others[i] = False
            ranks.append(float(exact_rank(every, v) - int(np.count_nonzero(nll[others] < v))))
        exposures = [exposure_from_rank(r, fmt.log2_size) for r in ranks]
        method: Method = "exact"
        fit, scored = None, fmt.size
    else:
        rng = np.random.default_rng([int(seed), 0x5A3])
        sample = [fmt.render(c) for c in fmt.random_choices(sample_size, rng)]
        fit = SkewNormalFit.fit(candidate_nll(lm, sample))
        nll = candidate_nll(lm, texts)
        exposures = [fit.exposure(float(v), fmt.log2_size) for v in nll]
        ranks = [max(1.0, 2.0 ** min(fmt.log2_size - e, 1023.0)) for e in exposures]
        method, scored = "estimate", sample_size + len(texts)
    rows = tuple(
        CanaryExposure(c.text, c.repetitions, float(v) * to_bits, r, e)
        for c, v, r, e in zip(canaries, nll, ranks, exposures, strict=True)
    )
    return ExposureResult(
        rows, method, fmt.size, fmt.log2_size, scored, time.perf_counter() - start, fit
    )
