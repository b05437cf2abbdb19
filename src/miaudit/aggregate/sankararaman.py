"""Sankararaman, Obozinski, Jordan & Halperin 2009, "Genomic privacy and limits of individual
detection in a pool" (Nature Genetics 41(9)).

The likelihood-ratio statistic of a record y against the pool's released frequencies mix and
the reference population's pop (the paper's likelihood-ratio test, SNPs taken as independent):

    LR(y) = sum_j [ y_j log(mix_j / pop_j) + (1 - y_j) log((1 - mix_j) / (1 - pop_j)) ]

For genotypes scaled as allele count / 2 this is half the binomial(2, p) log likelihood ratio,
so the ordering of records is the paper's. The paper shows this test is the most powerful
(Neyman-Pearson) and that its power depends on the number of SNPs over the pool size.

Clip: both frequencies are clipped to [clip, 1 - clip] (default clip = 1e-3) before the logs,
so features absent from the pool or the reference (and noisy releases clipped to 0 or 1) give a
finite log ratio of at most log(1 / clip) = 6.9 per feature. Withheld features contribute 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from miaudit.aggregate._base import AggregateAttack
from miaudit.aggregate._checks import check_positive
from miaudit.errors import ConfigError

SANKARARAMAN = (
    "Sankararaman et al. 2009, Genomic privacy and limits of individual detection in a pool "
    "(Nature Genetics)"
)
DEFAULT_CLIP = 1e-3


def sankararaman_statistic(
    records: np.ndarray,
    population_means: np.ndarray,
    mixture_means: np.ndarray,
    withheld: np.ndarray | None = None,
    *,
    clip: float = DEFAULT_CLIP,
) -> np.ndarray:
    """The LR statistic per record; shapes as :func:`~miaudit.aggregate.homer_statistic`."""
    p = np.clip(population_means, clip, 1 - clip)
    m = np.clip(mixture_means, clip, 1 - clip)
    w1 = np.log(m) - np.log(p)
    w0 = np.log1p(-m) - np.log1p(-p)
    terms = records * w1 + (1 - records) * w0
    if withheld is not None:
        terms = np.where(np.broadcast_to(withheld, terms.shape), 0.0, terms)
    return terms.sum(axis=1).astype(np.float64)


class SankararamanAttack(AggregateAttack):
    """Sankararaman et al. 2009's likelihood-ratio test, the reference population from ``fit``.

    Threat model: as :class:`~miaudit.aggregate.HomerAttack` (record + reference population
    + released means).
    """

    paper = SANKARARAMAN

    def __init__(self, *, clip: float = DEFAULT_CLIP) -> None:
        self.clip = clip

    def score_samples(
        self,
        records: ArrayLike,
        mixture_means: ArrayLike,
        withheld: ArrayLike | None = None,
    ) -> np.ndarray:
        clip = check_positive(self.clip, "clip")
        if clip >= 0.5:
            raise ConfigError(f"clip must be in (0, 0.5), got {self.clip!r}")
        y, mix, mask = self._inputs(records, mixture_means, withheld)
        return sankararaman_statistic(y, self.population_means_, mix, mask, clip=clip)
