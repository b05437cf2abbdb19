"""Membership-inference defenses, registered by name in :data:`DEFENSES`."""

from miaudit.defenses import (  # noqa: F401  (registration)
    adversarial_regularization,
    dimensionality_reduction,
    distillation,
    dp_sgd,
    memguard,
    mmd_mixup,
    model_stacking,
    output,
    pruning,
    regularization,
)
from miaudit.defenses.base import (
    DEFENSES,
    Defense,
    DefenseData,
    make_defense,
    register_defense,
)

__all__ = ["DEFENSES", "Defense", "DefenseData", "make_defense", "register_defense"]
