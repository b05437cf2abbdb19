"""Image records of a generative target: a float array (n, C, H, W), checked once."""

from __future__ import annotations

import numpy as np

from miaudit.errors import DataError


def check_images(x: object, what: str = "records") -> np.ndarray:
    """``x`` as a float32 array (n, C, H, W) of finite values, or DataError naming the
    problem (a (n, H, W) grey array gets its channel axis; the caller's array is not
    changed)."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} must be a numeric image array (n, C, H, W): {e}") from None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise DataError(f"{what} must be real numbers, got dtype {a.dtype}")
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4:
        raise DataError(f"{what} must be images of shape (n, C, H, W), got shape {a.shape}")
    if a.shape[0] == 0:
        raise DataError(f"{what} is empty: at least one image is needed")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise DataError(f"{what} has NaN or inf values")
    return a
