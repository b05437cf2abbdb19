"""Whether code a config names may be imported (issue 9 item 11): one switch, read by the
config's own checks and by the pre-run checks alike."""

from __future__ import annotations

import os

#: Set to 1 (or true/yes/on) to refuse every import a config names.
ENV_NO_IMPORTS = "MIAUDIT_NO_CONFIG_IMPORTS"
_TRUE = {"1", "true", "yes", "on"}


def imports_allowed(allow_imports: bool | None = None) -> bool:
    """Whether a config may name code to import.

    False when ``allow_imports`` is False or the environment sets
    ``MIAUDIT_NO_CONFIG_IMPORTS=1``; the environment cannot be overridden by an argument,
    so an administrator's setting holds for every run in it.
    """
    if os.environ.get(ENV_NO_IMPORTS, "").strip().lower() in _TRUE:
        return False
    return allow_imports is not False
