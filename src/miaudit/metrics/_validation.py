"""Input checks shared by every metric."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from miaudit.errors import ConfigError, DataError


def check_scores(y_true: ArrayLike, y_score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y, s)``: membership as a bool array and scores as float64, both 1-D.

    Raises:
        DataError: shapes differ, input is empty, labels are not 0/1, scores are not finite,
            or there are no members or no non-members.
    """
    y = np.asarray(y_true)
    try:
        s = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"y_score must be numeric, got {np.asarray(y_score).dtype}") from exc
    if y.ndim != 1 or s.ndim != 1:
        raise DataError(
            f"y_true and y_score must be 1-D arrays, got shapes {y.shape} and {s.shape}"
        )
    if y.shape != s.shape:
        raise DataError(
            f"mismatched lengths: y_true has {y.size} entries, y_score has {s.size}; "
            "pass one membership label per score"
        )
    if y.size == 0:
        raise DataError("empty input: y_true and y_score have no entries")
    if y.dtype == np.bool_:
        members = y
    elif y.dtype.kind in "iuf" and bool(np.all((y == 0) | (y == 1))):
        members = y == 1
    else:
        bad = np.unique(y[~((y == 0) | (y == 1))])[:5] if y.dtype.kind in "iuf" else y.dtype
        raise DataError(f"y_true must be binary membership (bool or 0/1, 1 = member), found {bad}")
    finite = np.isfinite(s)
    if not finite.all():
        n_bad = int(s.size - finite.sum())
        raise DataError(
            f"y_score has {n_bad} non-finite value(s) (NaN or inf) at index "
            f"{int(np.flatnonzero(~finite)[0])}; scores must be finite floats"
        )
    n_members = int(members.sum())
    if n_members == 0:
        raise DataError("empty member set: y_true has no members (no 1 / True labels)")
    if n_members == members.size:
        raise DataError("empty non-member set: y_true has no non-members (no 0 / False labels)")
    return members, s


def check_fraction(name: str, value: float, *, low_open: bool, high_open: bool) -> float:
    """Check that ``value`` lies in the interval from 0 to 1 (ends open as requested)."""
    v = float(value)
    ok_low = v > 0.0 if low_open else v >= 0.0
    ok_high = v < 1.0 if high_open else v <= 1.0
    if not (ok_low and ok_high):
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ConfigError(f"{name} must lie in {interval}, got {value!r}")
    return v
