"""Escaping and number formatting shared by every section of the report."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

# a metric as a float or None: the results' own function, so the report and results.json's
# summary read a value the same way
from miaudit.results import metric_value as num

DASH = "–"

__all__ = [
    "DASH",
    "ci_html",
    "compact",
    "esc",
    "figure",
    "fmt",
    "get",
    "json_default",
    "kv_table",
    "num",
    "params_html",
    "yes_no",
]


def esc(value: Any) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A metric with ``digits`` decimals, ∞ for infinity, a dash when missing or NaN."""
    x = num(value)
    if x is None:
        return DASH
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}"


def ci_html(value: Any, digits: int = 3) -> str:
    """``[lo, hi]`` as a small second line; a dash when no interval was computed (None:
    ``bootstrap: 0``); nothing when the value is malformed."""
    if value is None:
        return f'<span class="ci">[{DASH}]</span>'
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != 2:
        return ""
    lo, hi = fmt(value[0], digits), fmt(value[1], digits)
    if lo == DASH and hi == DASH:
        return ""
    return f'<span class="ci">[{lo}, {hi}]</span>'


def yes_no(value: Any) -> str:
    """A threat-model flag: yes / no, a dash when not recorded."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return DASH if value is None else esc(value)


def get(mapping: Any, key: str) -> Any:
    """``mapping[key]``, or None when it is missing or ``mapping`` is not a mapping."""
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def params_html(params: Any) -> str:
    """``k=v, ...`` with each value as compact JSON; a dash when there are none."""
    if not isinstance(params, Mapping) or not params:
        return DASH
    return ", ".join(
        f'{esc(k)}=<span class="mono">{esc(compact(v))}</span>' for k, v in params.items()
    )


def compact(value: Any) -> str:
    """``value`` as one line of JSON (NumPy values as lists/numbers), else its ``str``."""
    try:
        return json.dumps(value, default=json_default)
    except (TypeError, ValueError):
        return str(value)


def json_default(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return str(value)


def kv_table(rows: Iterable[tuple[str, str]]) -> str:
    """Two-column table; values are already HTML."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


def figure(uri: str, alt: str, caption: str) -> str:
    """An embedded image with its caption (``caption`` is already HTML)."""
    return f'<figure><img src="{uri}" alt="{esc(alt)}"><figcaption>{caption}</figcaption></figure>'
