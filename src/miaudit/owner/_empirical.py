"""The empirical p-value of a score against null scores: one function for every test that
compares an observed statistic with draws known to follow H0 (the user-level audit's
users, the aggregate audit's records)."""

from __future__ import annotations

from typing import Any

import numpy as np

from miaudit.errors import DataError


def empirical_p_values(observed: Any, null: Any) -> np.ndarray:
    """float64 p-values (1 + #{null >= s}) / (1 + n_null) of each observed value ``s``
    (higher = more member-like) against the ``null`` values.

    Valid (P(p <= a) <= a) when an observed value is exchangeable with the null values
    under H0; ties count against the observed value.

    Raises:
        DataError: no null values, or NaN/inf among the values.
    """
    obs = np.asarray(observed, dtype=np.float64).ravel()
    ref = np.sort(np.asarray(null, dtype=np.float64).ravel())
    if ref.size == 0:
        raise DataError("the null distribution is empty: no null scores to compare with")
    if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(ref))):
        raise DataError("the scores or the null scores contain NaN or inf")
    at_least = ref.size - np.searchsorted(ref, obs, side="left")
    return (1.0 + at_least) / (1.0 + ref.size)
