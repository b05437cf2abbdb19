"""Per-record Gaussian statistics of reference-model signals, shared by the attacks that fit
one distribution per record over the reference models that did (IN) or did not (OUT) train
on it: LiRA (:mod:`miaudit.attacks.lira`, both sides) and GMIA (:mod:`miaudit.attacks.gmia`,
the OUT side).
"""

from __future__ import annotations

import numpy as np

from miaudit.errors import DataError
from miaudit.outputs import ReferenceOutputs

#: Smallest per-record standard deviation: a record whose reference values are all equal
#: would otherwise get a zero-width Gaussian.
STD_FLOOR = 1e-6


def masked_mean_std(phi: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-record mean and std (ddof=0) of ``phi`` over the models where ``mask`` is set.

    ``phi`` is (n, k) or (n, k, v) (trailing axes: augmented views), ``mask`` (n, k) bool.
    Returns two arrays of ``phi``'s shape without the model axis, 0 for records with no model.
    """
    mask = np.asarray(mask, dtype=bool)
    trailing = (1,) * (phi.ndim - 2)
    w = mask.reshape(mask.shape + trailing).astype(np.float64)
    count = np.maximum(mask.sum(axis=1), 1).reshape((mask.shape[0],) + trailing)
    count = count.astype(np.float64)
    mean = (phi * w).sum(axis=1) / count
    var = (((phi - np.expand_dims(mean, 1)) ** 2) * w).sum(axis=1) / count
    return mean, np.sqrt(var)


def per_record_gaussians(
    phi: np.ndarray, mask: np.ndarray, *, fixed_variance: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    """Location, spread and global spread of one side (IN or OUT) of the reference models.

    * location: the mean of ``phi`` over the record's models in ``mask`` (0, a placeholder,
      for records with none: the caller chooses their fallback);
    * spread: the std (ddof=0) over the same models, floored at :data:`STD_FLOOR`; records
      with fewer than 2 models, or every record when ``fixed_variance``, get the global spread;
    * global spread: the std of all ``phi[mask]`` values, floored at :data:`STD_FLOOR`.

    ``phi`` is (n, k) or (n, k, v), ``mask`` (n, k) with at least one True.
    """
    mask = np.asarray(mask, dtype=bool)
    g = max(float(np.std(phi[mask])), STD_FLOOR)
    mu, s = masked_mean_std(phi, mask)
    s = np.maximum(s, STD_FLOOR)
    if fixed_variance:
        s = np.full_like(s, g)
    else:
        s[mask.sum(axis=1) < 2] = g
    return mu, s, g


def check_audited_reference(
    attack: str, label: str, reference: ReferenceOutputs, num_classes: int
) -> None:
    """DataError unless ``reference`` has outputs on the audited records with ``num_classes``
    columns (the per-record attacks need kind='random' reference models)."""
    if not reference.audited:
        raise DataError(
            f"{attack}: the reference models have no outputs on the audited records (shadows "
            f"trained on another data set?); {label} needs kind='random' reference models"
        )
    if reference.audited[0].num_classes != num_classes:
        raise DataError(
            f"{attack}: reference outputs have {reference.audited[0].num_classes} classes, "
            f"the target {num_classes}"
        )
