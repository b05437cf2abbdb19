"""Hilprecht et al. 2019's Monte-Carlo estimate ("Monte Carlo and Reconstruction Membership
Inference Attacks against Generative Models", PoPETs 2019(4), sec. 4.1): for a record x and
k generated samples g_1..g_k, f(x) = (1/k) sum_i 1[d(x, g_i) <= eps], the share of samples
in the eps-ball around x (an estimate of the generator's probability mass there).

eps choice, as the authors' code (``mc_attack_cvae.py``): the ``percentile`` heuristic sets
eps to that percentile of all distances between the audited records and the samples (the
code tries 1, 0.1, 0.01, 0.001); the ``median_min`` heuristic sets eps to the median over
records of each record's nearest-sample distance. The distance is Euclidean; the authors
compare MNIST images on 40 PCA components (fitted on held-out data) or on HOG features.
miaudit computes it on the flattened pixels, or on given features (e.g. a PCA projection
the caller fitted on population data): PCA/HOG are not built in (not done, see
BENCHMARKS.md)."""

from __future__ import annotations

import numpy as np

from miaudit.errors import DataError

#: records x samples entries per distance block (memory, not results)
_BLOCK = 4_000_000


def pairwise_distances(records: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """float64 (n, k) Euclidean distances, from ||x||^2 + ||g||^2 - 2 x.g in float64
    blocks, clipped at 0 against rounding."""
    if len(samples) == 0:
        raise DataError("zero generated samples: the Monte-Carlo attack needs k >= 1")
    x = np.asarray(records, dtype=np.float64).reshape(len(records), -1)
    g = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    if x.shape[1] != g.shape[1]:
        raise DataError(f"records have {x.shape[1]} values each but generated samples {g.shape[1]}")
    xx = np.einsum("ij,ij->i", x, x)
    gg = np.einsum("ij,ij->i", g, g)
    out = np.empty((x.shape[0], g.shape[0]))
    step = max(1, _BLOCK // max(1, x.shape[0]))
    for lo in range(0, g.shape[0], step):
        d = xx[:, None] + gg[None, lo : lo + step] - 2.0 * (x @ g[lo : lo + step].T)
        out[:, lo : lo + step] = np.sqrt(np.maximum(d, 0.0))
    return out


def choose_eps(distances: np.ndarray, eps: str | float) -> float:
    """eps from a distance matrix (n, k): ``"median_min"``, a percentile given as
    ``"percentile:P"`` (P in (0, 100], e.g. "percentile:0.1"), or a positive number."""
    if isinstance(eps, str):
        if eps == "median_min":
            return float(np.median(distances.min(axis=1)))
        if eps.startswith("percentile:"):
            try:
                p = float(eps.split(":", 1)[1])
            except ValueError:
                p = -1.0
            if not 0 < p <= 100:
                raise DataError(f"eps percentile must be in (0, 100], got {eps!r}")
            return float(np.percentile(distances, p))
        raise DataError(
            f"eps must be 'median_min', 'percentile:P' or a positive number, got {eps!r}"
        )
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise DataError(f"eps must be a positive number, got {eps!r}")
    return float(eps)


def mc_share(records: np.ndarray, samples: np.ndarray, eps: str | float) -> np.ndarray:
    """float64 (n,): the share of ``samples`` within distance eps of each record (eps from
    :func:`choose_eps` over these records' distances; higher = member)."""
    d = pairwise_distances(records, samples)
    return np.mean(d <= choose_eps(d, eps), axis=1, dtype=np.float64)
