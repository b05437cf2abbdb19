"""Homer et al. 2008, "Resolving individuals contributing trace amounts of DNA to highly
complex mixtures using high-density SNP genotyping microarrays" (PLoS Genetics 4(8)).

Per feature (SNP) j, with the person's value y_j (allele frequency 0, 1/2 or 1, or a binary
feature), the reference population's frequency pop_j and the released mixture's mix_j
(the paper's distance measure D(Y_ij), Methods):

    D_j(y) = |y_j - pop_j| - |y_j - mix_j|

D_j > 0 when the person is closer to the mixture than to the population. The paper tests
mean_j D_j > 0 with a one-sample t-test over the SNPs: T = mean(D) / (sd(D) / sqrt(s)) for s
SNPs (``statistic="t"``). The default score is the distance statistic D(y) = sum_j D_j
(``statistic="sum"``); the two differ only in the per-record normalisation by sd(D).
Withheld (suppressed) features contribute nothing and do not count in s.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from miaudit.aggregate._base import AggregateAttack
from miaudit.errors import ConfigError

HOMER = "Homer et al. 2008, Resolving individuals ... in highly complex mixtures (PLoS Genetics)"
Statistic = Literal["sum", "t"]


def homer_statistic(
    records: np.ndarray,
    population_means: np.ndarray,
    mixture_means: np.ndarray,
    withheld: np.ndarray | None = None,
    *,
    statistic: Statistic = "sum",
) -> np.ndarray:
    """Homer's D(y) = sum_j |y_j - pop_j| - |y_j - mix_j| per record (or its t statistic).

    ``records`` (k, d); ``population_means`` (d,); ``mixture_means`` (d,) or (k, d);
    ``withheld`` None or a bool mask broadcastable to (k, d). Returns (k,) float64. No input
    checks (see :class:`HomerAttack`).
    """
    dj = np.abs(records - population_means) - np.abs(records - mixture_means)
    keep = (
        np.ones(dj.shape, dtype=bool) if withheld is None else ~np.broadcast_to(withheld, dj.shape)
    )
    dj = np.where(keep, dj, 0.0)
    if statistic == "sum":
        return dj.sum(axis=1).astype(np.float64)
    if statistic != "t":
        raise ConfigError(f"statistic must be 'sum' or 't', got {statistic!r}")
    s = keep.sum(axis=1).astype(np.float64)
    mean = dj.sum(axis=1) / np.maximum(s, 1)
    var = (np.where(keep, dj - mean[:, None], 0.0) ** 2).sum(axis=1) / np.maximum(s - 1, 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(np.maximum(s, 1)))
    # sd = 0 (e.g. no noise and y equal to both means everywhere): no evidence either way
    return np.where(sd > 0, t, 0.0).astype(np.float64)


class HomerAttack(AggregateAttack):
    """Homer et al. 2008's distance test D(y), the reference population from ``fit``.

    Threat model: the attacker holds the target's record and reference records from the same
    population (the paper's HapMap CEU reference); it sees only the released means.
    """

    paper = HOMER

    def __init__(self, *, statistic: Statistic = "sum") -> None:
        self.statistic = statistic

    def score_samples(
        self,
        records: ArrayLike,
        mixture_means: ArrayLike,
        withheld: ArrayLike | None = None,
    ) -> np.ndarray:
        if self.statistic not in ("sum", "t"):
            raise ConfigError(f"statistic must be 'sum' or 't', got {self.statistic!r}")
        y, mix, mask = self._inputs(records, mixture_means, withheld)
        return homer_statistic(y, self.population_means_, mix, mask, statistic=self.statistic)
