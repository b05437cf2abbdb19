"""Membership-inference attacks, registered by name in :data:`ATTACKS`.

Every public module of this package is imported here (sorted, private ``_*`` modules
skipped), and importing a module registers its attacks: adding an attack is adding one
module (one per paper) with a ``@register_attack`` class. ``ATTACKS.names()`` is sorted, so
the order of the modules does not change the order ``attacks: all`` runs them in.
"""

import importlib
import pkgutil

from miaudit.attacks.base import (
    ATTACKS,
    DATA_SOURCES,
    Attack,
    AttackerKnowledge,
    Needs,
    Offer,
    Param,
    Reads,
    ReferenceRequest,
    ThreatModel,
    When,
    make_attack,
    population_rows,
    register_attack,
)


def _import_attack_modules() -> list[str]:
    """Import every public attack module of this package (registration); their names, sorted."""
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_") and m.name != "base"
    )
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


ATTACK_MODULES = tuple(_import_attack_modules())

__all__ = [
    "ATTACKS",
    "ATTACK_MODULES",
    "Attack",
    "AttackerKnowledge",
    "DATA_SOURCES",
    "Needs",
    "Offer",
    "Param",
    "Reads",
    "ReferenceRequest",
    "ThreatModel",
    "When",
    "make_attack",
    "population_rows",
    "register_attack",
]
