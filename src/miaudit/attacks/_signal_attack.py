"""The contract the attacks on named signals share (the language-model and the GAN attacks,
each kind with its own needs and knowledge): scikit-learn style parameters, ``fit``
returning self, ``score_samples`` on a kind's :class:`~miaudit.kinds.Signals` returning
float64 (n,) scores, higher = more likely a member; one-threshold attacks; building a
registered attack with its parameters validated before anything trains."""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeVar

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.errors import NotFittedError
from miaudit.kinds import Signals, SignalThreshold
from miaudit.registry import Registry
from miaudit.validation import Constraints, validate_instance, validate_params


class SignalAttack:
    """Base class of the attacks that score a kind's signals."""

    name: ClassVar[str]
    threat_model: ClassVar[ThreatModel]
    param_constraints: ClassVar[dict[str, Constraints]] = {}

    def check_params(self) -> None:
        validate_instance(self, kind="attack")

    def fit(self, knowledge: Any) -> Self:
        self.check_params()
        self.fitted_ = True
        return self

    def score_samples(self, signals: Signals) -> np.ndarray:
        """Membership scores of the audited records, float64 (n,), higher = member."""
        if not getattr(self, "fitted_", False):
            raise NotFittedError(f"attack {self.name!r} is not fitted; call fit(knowledge) first")
        scores = np.asarray(self._score(signals), dtype=np.float64)
        if scores.shape != (signals.n,):
            raise RuntimeError(f"{self.name} returned scores of shape {scores.shape}")
        return scores

    def _score(self, signals: Signals) -> np.ndarray:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


class ThresholdRule:
    """Mixin: an attack that is one threshold rule on one signal (:class:`SignalThreshold`);
    a subclass names the rule, fitting learns nothing (the metrics sweep every threshold)."""

    rule: ClassVar[SignalThreshold]

    def _score(self, signals: Signals) -> np.ndarray:
        return self.rule.score_samples(signals)


A = TypeVar("A", bound=SignalAttack)


def make_registered(registry: Registry[type[A]], name: str, **params: Any) -> A:
    """A registered attack by name (ConfigError for bad parameters, before anything
    trains)."""
    cls = registry.get(name)
    validate_params(cls, params, kind="attack", name=name)
    attack = cls(**params)
    attack.check_params()
    return attack
