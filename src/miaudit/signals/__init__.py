"""Per-record membership signals computed from model outputs (pure NumPy functions).

Every function takes a :class:`~miaudit.outputs.ModelOutputs` and returns a float64
array of shape (n,). Sign conventions follow the quantity's name (loss is a loss);
attacks turn them into scores (higher = member).
"""

from miaudit.signals.functions import (
    SIGNALS,
    correctness,
    entropy,
    loss,
    max_confidence,
    max_confidence_log_odds,
    modified_entropy,
    probability_log_odds,
    scaled_logit,
    true_class_confidence,
)

__all__ = [
    "SIGNALS",
    "correctness",
    "entropy",
    "loss",
    "max_confidence",
    "max_confidence_log_odds",
    "modified_entropy",
    "probability_log_odds",
    "scaled_logit",
    "true_class_confidence",
]
