"""JSON at the edge: NumPy and non-finite values out (results.json), and back in."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into JSON-safe values
    (NaN -> None, +-inf -> "inf" / "-inf")."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def metric_value(value: Any) -> float | None:
    """A metric as a float, or None when missing, not numeric or NaN ("inf" is accepted)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def json_float(value: Any) -> float:
    """The inverse of :func:`json_safe` for a float: None -> NaN, "inf" -> inf."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def json_interval(value: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` list back to a tuple of floats; None stays None."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(f"expected an interval [lo, hi] or null, got {value!r}")
    return json_float(value[0]), json_float(value[1])
