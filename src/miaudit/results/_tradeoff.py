"""One point of a defense sweep (``miaudit tradeoff``): a defense at one strength."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from miaudit.results._json import json_float, json_interval


@dataclass
class TradeoffPoint:
    """One audit of the sweep: a defense at one strength (or no defense)."""

    defense: str
    param: str | None
    value: Any
    train_accuracy: float
    test_accuracy: float
    train_seconds: float
    auc: float
    tpr_at_0_001: float
    tpr_at_0_01: float
    strongest_attack: str
    epsilon: float | None = None
    failed_attacks: list[str] = field(default_factory=list)
    recipe: dict[str, Any] | None = None
    error: str | None = None
    #: 95% bootstrap intervals of the strongest attack's TPR at 1% FPR and of the best AUC
    tpr_at_0_01_ci: tuple[float, float] | None = None
    auc_ci: tuple[float, float] | None = None

    @property
    def gap(self) -> float:
        return self.train_accuracy - self.test_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "defense": self.defense,
            "param": self.param,
            "value": self.value,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "generalization_gap": self.gap,
            "train_seconds": self.train_seconds,
            "strongest_attack": self.strongest_attack,
            "auc": self.auc,
            "tpr_at_fpr": {"0.001": self.tpr_at_0_001, "0.01": self.tpr_at_0_01},
            "tpr_at_fpr_ci": {"0.01": self.tpr_at_0_01_ci},
            "auc_ci": self.auc_ci,
            "epsilon": self.epsilon,
            "failed_attacks": self.failed_attacks,
            "recipe": self.recipe,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradeoffPoint:
        """The inverse of :meth:`to_dict` as results.json holds it (None back to NaN)."""
        tpr = data["tpr_at_fpr"]
        epsilon = data["epsilon"]
        return cls(
            defense=data["defense"],
            param=data["param"],
            value=data["value"],
            train_accuracy=json_float(data["train_accuracy"]),
            test_accuracy=json_float(data["test_accuracy"]),
            train_seconds=json_float(data["train_seconds"]),
            auc=json_float(data["auc"]),
            tpr_at_0_001=json_float(tpr["0.001"]),
            tpr_at_0_01=json_float(tpr["0.01"]),
            strongest_attack=data["strongest_attack"],
            epsilon=None if epsilon is None else json_float(epsilon),
            failed_attacks=list(data["failed_attacks"]),
            recipe=data["recipe"],
            error=data["error"],
            tpr_at_0_01_ci=json_interval(data["tpr_at_fpr_ci"]["0.01"]),
            auc_ci=json_interval(data["auc_ci"]),
        )

    @property
    def label(self) -> str:
        """The defense, with the recipe override when there is one."""
        if not self.recipe:
            return self.defense
        return f"{self.defense} [{recipe_text(self.recipe)}]"


def recipe_text(recipe: dict[str, Any]) -> str:
    """``k=v, ...`` of a recipe override, in key order."""
    return ", ".join(f"{k}={v}" for k, v in sorted(recipe.items()))
