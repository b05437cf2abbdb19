"""Membership-inference metrics: pure functions of ``(y_true, y_score)``.

``y_true`` is membership (bool or 0/1, 1 = member); ``y_score`` is higher for records more
likely to be members. A record is called a member iff ``score >= threshold``.
"""

from miaudit.metrics._bootstrap import bootstrap_ci
from miaudit.metrics._epsilon import epsilon_lower_bound, epsilon_lower_bound_heldout
from miaudit.metrics._evaluate import AttackMetrics, evaluate_scores
from miaudit.metrics._roc import (
    advantage,
    auc,
    balanced_accuracy,
    precision_recall_at,
    roc_curve,
    tpr_at_fpr,
)

__all__ = [
    "AttackMetrics",
    "advantage",
    "auc",
    "balanced_accuracy",
    "bootstrap_ci",
    "epsilon_lower_bound",
    "epsilon_lower_bound_heldout",
    "evaluate_scores",
    "precision_recall_at",
    "roc_curve",
    "tpr_at_fpr",
]
