"""Membership-inference defenses, registered by name in :data:`DEFENSES`.

Every public module of this package is imported here (in sorted order), so a new defense
is one new module that decorates its class with :func:`register_defense`.
"""

import importlib
import pkgutil

from miaudit.defenses.base import (
    DEFENSES,
    Defense,
    DefenseData,
    make_defense,
    register_defense,
)
from miaudit.defenses.spec import DefenseSpec

#: modules of this package that hold no defense
_NOT_DEFENSES = frozenset({"base", "spec"})

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if not _module.startswith("_") and _module not in _NOT_DEFENSES:
        importlib.import_module(f"{__name__}.{_module}")

__all__ = [
    "DEFENSES",
    "Defense",
    "DefenseData",
    "DefenseSpec",
    "make_defense",
    "register_defense",
]
