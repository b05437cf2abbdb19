"""Membership-inference attacks, registered by name in :data:`ATTACKS`."""

from miaudit.attacks import salem, song_mittal, yeom  # noqa: F401  (registration)
from miaudit.attacks.base import (
    ATTACKS,
    DATA_SOURCES,
    Attack,
    AttackerKnowledge,
    ReferenceRequest,
    ThreatModel,
    make_attack,
    register_attack,
)

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackerKnowledge",
    "DATA_SOURCES",
    "ReferenceRequest",
    "ThreatModel",
    "make_attack",
    "register_attack",
]
