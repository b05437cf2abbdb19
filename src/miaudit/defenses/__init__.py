"""Membership-inference defenses, registered by name in :data:`DEFENSES`."""

from miaudit.defenses.base import (
    DEFENSES,
    Defense,
    DefenseData,
    make_defense,
    register_defense,
)

__all__ = ["DEFENSES", "Defense", "DefenseData", "make_defense", "register_defense"]
