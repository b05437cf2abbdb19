"""Membership-inference attacks, registered by name in :data:`ATTACKS`."""

from miaudit.attacks import (  # noqa: F401  (registration)
    calibrated,
    gmia,
    label_only,
    lira,
    ml_leaks,
    rmia,
    salem,
    shokri,
    song_mittal,
    transfer,
    whitebox,
    yeom,
)
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
