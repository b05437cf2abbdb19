"""Importing the code a config names (``"package.module:attribute"``): one parser and one
set of one-line refusals for every place a config may name code (a reference
``train_fn``, a module factory). Importing runs the module's code, so callers check the
import policy first (:mod:`miaudit.pipeline._import_policy`)."""

from __future__ import annotations

import importlib
from typing import Any

from miaudit.errors import ConfigError, one_line


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def import_named(spec: str, *, where: str, shape: str) -> Any:
    """The object ``spec`` names, imported. ``where`` starts every error (e.g.
    ``"reference.train_fn 'a:b'"``); ``shape`` is the expected form (``"package.module:
    function"``).

    Raises:
        ConfigError: a malformed spec, a module that cannot be imported or fails while
            importing, or a missing attribute.
    """
    module_name, _, attr = spec.partition(":")
    if not _dotted(module_name) or not _dotted(attr):
        raise ConfigError(f"{where} must look like {shape!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where} cannot be imported: {one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 -- the module's own code failed while importing
        raise ConfigError(
            f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {one_line(exc)}"
        ) from None
    for name in attr.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise ConfigError(f"{where}: {module_name!r} has no attribute {attr!r}") from None
    return obj
