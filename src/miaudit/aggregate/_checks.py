"""Input checks shared by the aggregate-statistics modules (one-line errors)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from miaudit.errors import ConfigError, DataError


def check_unit_matrix(x: ArrayLike, name: str, *, width: int | None = None) -> np.ndarray:
    """``x`` as a finite float64 (n, d) array with values in [0, 1], or a one-line DataError."""
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise DataError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(
            f"{name} must be a non-empty 2-d array (records x features), got shape {np.shape(x)}"
        )
    if width is not None and arr.shape[1] != width:
        raise DataError(
            f"{name} has {arr.shape[1]} features but {width} were expected "
            "(every array must describe the same features in the same order)"
        )
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(
            f"{name} must have values in [0, 1] (features scaled to the unit "
            f"interval, e.g. genotype / 2), got values in [{lo:g}, {hi:g}]"
        )
    return arr


def check_means(m: ArrayLike, name: str, *, width: int) -> np.ndarray:
    """Feature means, shape (d,) or (k, d), finite, in [0, 1]."""
    arr = np.asarray(m, dtype=np.float64) if _numeric(m) else None
    if arr is None:
        raise DataError(f"{name} must be a numeric array of feature frequencies")
    if arr.ndim not in (1, 2) or arr.shape[-1] != width:
        raise DataError(
            f"{name} must have shape ({width},) or (k, {width}) to match the "
            f"records' {width} features, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(
            f"{name} are frequencies and must lie in [0, 1], got values in [{lo:g}, {hi:g}]"
        )
    return arr


def check_mask(mask: ArrayLike | None, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise DataError(f"{name} must be a boolean mask, got dtype {arr.dtype}")
    if arr.shape[-1] != shape[-1] or arr.ndim > 2:
        raise DataError(
            f"{name} must have shape ({shape[-1]},) or (k, {shape[-1]}), got {arr.shape}"
        )
    return arr


def check_positive(value: object, name: str, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if np.isnan(v) or v <= 0 or (np.isinf(v) and not allow_inf):
        allowed = "a positive number (or inf for no noise)" if allow_inf else "a positive number"
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return v


def check_count(value: object, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _numeric(m: object) -> bool:
    arr = np.asarray(m)
    return arr.dtype != object and (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    )
