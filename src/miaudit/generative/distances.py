"""Nearest-sample distances: for each record x, min_i ||x - g_i||_2 over generated samples
g_1..g_k: GAN-Leaks' full black-box reconstruction error (Chen et al. 2020, CCS, full
black-box: R(x|G) = argmin over the k generated samples of L2(x, G(z_i)), and L(x, R(x|G))).

The distance is Euclidean, not squared, as the authors' code (``attack_models/fbb.py``:
scikit-learn ``NearestNeighbors``, Euclidean metric, on the flattened images). Squaring
leaves the uncalibrated attack's ranking unchanged but not the calibrated difference."""

from __future__ import annotations

import numpy as np

from miaudit.errors import DataError

#: records x samples entries per distance block (memory, not results)
_BLOCK = 4_000_000


def nearest_distances(records: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """float64 (n,): each record's Euclidean distance to its nearest sample.

    The squared distance is ||x||^2 + ||g||^2 - 2 x.g in float64 blocks (dense matrix
    products), clipped at 0 against rounding, then its square root. ``records`` (n, ...)
    and ``samples`` (k, ...) must have the same trailing shape; DataError for zero
    samples."""
    if len(samples) == 0:
        raise DataError("zero generated samples: the nearest-sample distance needs k >= 1")
    x = np.asarray(records, dtype=np.float64).reshape(len(records), -1)
    g = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    if x.shape[1] != g.shape[1]:
        raise DataError(f"records have {x.shape[1]} values each but generated samples {g.shape[1]}")
    xx = np.einsum("ij,ij->i", x, x)
    gg = np.einsum("ij,ij->i", g, g)
    best = np.full(x.shape[0], np.inf)
    step = max(1, _BLOCK // max(1, x.shape[0]))
    for start in range(0, g.shape[0], step):
        block = g[start : start + step]
        d = xx[:, None] + gg[None, start : start + step] - 2.0 * (x @ block.T)
        np.minimum(best, d.min(axis=1), out=best)
    return np.sqrt(np.maximum(best, 0.0))
