"""The audit's result types, re-exported from their home :mod:`miaudit.results` for code
that imports them from here; the files a run writes are :data:`OUTPUT_FILES`."""

from miaudit.pipeline.output import OUTPUT_FILES
from miaudit.results import (
    ACCESS_LEVELS,
    STRONGEST_CRITERION,
    TPR_LEVELS,
    AttackResult,
    AuditResult,
    TargetSummary,
    attack_access,
    json_safe,
    strongest_attacks,
)

#: the JSON helper under its old name here
_json_safe = json_safe

__all__ = [
    "ACCESS_LEVELS",
    "OUTPUT_FILES",
    "STRONGEST_CRITERION",
    "TPR_LEVELS",
    "AttackResult",
    "AuditResult",
    "TargetSummary",
    "_json_safe",
    "attack_access",
    "strongest_attacks",
]
