"""Reading a results.json: the file, its kind (audit or trade-off sweep), parse errors.

Below :mod:`miaudit.results._audit` (which reads files through it) and
:mod:`miaudit.results._load` (which builds results from them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from miaudit.errors import DataError

RESULTS_JSON = "results.json"
SCORES_CSV = "scores.csv"
_AUDIT_KEYS = ("title", "seed", "config", "target", "attacks", "timings")


def read_results_json(path: str | Path) -> dict[str, Any]:
    """The JSON object of a results.json (``path`` may be its directory).

    Raises:
        DataError: the file is missing, unreadable, not JSON or not a JSON object.
    """
    path = results_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"results file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read results file {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DataError(f"results file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"results file {str(path)!r} is not a miaudit results file")
    return data


def results_kind(data: Mapping[str, Any], source: str = "results") -> Literal["audit", "tradeoff"]:
    """Whether a results.json object is an audit's or a trade-off sweep's.

    Raises:
        DataError: it is neither.
    """
    if isinstance(data.get("points"), list) and "config" in data:
        return "tradeoff"
    if all(k in data for k in _AUDIT_KEYS) and isinstance(data["attacks"], list):
        return "audit"
    raise DataError(
        f"{source} is not a miaudit results file (an audit's has "
        f"{', '.join(_AUDIT_KEYS)}; a trade-off sweep's has config and points)"
    )


def results_path(path: str | Path) -> Path:
    path = Path(path)
    return path / RESULTS_JSON if path.is_dir() else path


def parse(build: Any, data: Mapping[str, Any], path: Path) -> Any:
    """``build(data)``, with a malformed field reported as one DataError."""
    try:
        return build(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise DataError(f"{str(path)!r} is not a valid miaudit results file: {what}") from None
