"""Targets: the models under audit, behind one query interface with declared capabilities."""

from miaudit.targets._base import CAPABILITIES, CapabilityError, Target
from miaudit.targets._sklearn import SklearnTarget
from miaudit.targets._torch import TorchTarget
from miaudit.targets._wrappers import (
    LabelOnlyTarget,
    PrecomputedTarget,
    QueryBudgetExceeded,
    as_target,
)

__all__ = [
    "CAPABILITIES",
    "CapabilityError",
    "LabelOnlyTarget",
    "PrecomputedTarget",
    "QueryBudgetExceeded",
    "SklearnTarget",
    "Target",
    "TorchTarget",
    "as_target",
]
