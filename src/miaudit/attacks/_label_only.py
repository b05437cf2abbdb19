"""Shared pieces of the label-only attacks (:mod:`miaudit.attacks.choquette_choo`,
:mod:`miaudit.attacks.li_zhang`): their base class and the checks and helpers of their
``fit``. Private: registers nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, Needs
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs

if TYPE_CHECKING:
    from torch import nn

    from miaudit.targets import Target

TrainFn = Callable[[np.ndarray, np.ndarray, int], "Target"]
PredictLabels = Callable[[np.ndarray], np.ndarray]

CHOQUETTE_CHOO = "Choquette-Choo et al. 2021, Label-Only Membership Inference Attacks (ICML)"
LI_ZHANG = "Li & Zhang 2021, Membership Leakage in Label-Only Exposures (CCS)"


def population_records(
    attack: Attack, knowledge: AttackerKnowledge
) -> tuple[np.ndarray, np.ndarray]:
    if knowledge.population_data is None:
        raise DataError(
            f"{attack.name}: this attack needs the attacker's population records "
            "(AttackerKnowledge.population_data = (x, y)); give the audit population data"
        )
    x, y = (np.asarray(a) for a in knowledge.population_data)
    if len(x) == 0 or len(x) != len(y):
        raise DataError(
            f"{attack.name}: population_data must be (x, y) with the same, non-zero number "
            f"of records, got {len(x)} and {len(y)}"
        )
    return x, y


def fit_target(attack: Attack, knowledge: AttackerKnowledge) -> Target:
    if knowledge.target is None:
        raise DataError(
            f"{attack.name}: this attack queries the target's labels during fit "
            "(AttackerKnowledge.target); run it through miaudit.audit or pass target=..."
        )
    return knowledge.target


def shadow_trainer(attack: Attack, knowledge: AttackerKnowledge) -> TrainFn:
    if knowledge.train_model is None:
        raise DataError(
            f"{attack.name}: this attack trains its own shadow model and needs a reference "
            "recipe (AttackerKnowledge.train_model; in a config: reference.model)"
        )
    return knowledge.train_model


def labels_of(target: Target, x: np.ndarray, y: np.ndarray, what: str) -> np.ndarray:
    """Validated integer labels ``y`` for records ``x``."""
    y_arr = np.asarray(y)
    if y_arr.shape != (len(x),):
        raise DataError(f"mismatched lengths: {len(x)} {what} records but labels {y_arr.shape}")
    if not np.issubdtype(y_arr.dtype, np.integer):
        raise DataError(f"{what} labels must be integers, got dtype {y_arr.dtype}")
    if y_arr.size and (y_arr.min() < 0 or y_arr.max() >= target.num_classes):
        raise DataError(f"{what} labels outside the classes 0..{target.num_classes - 1}")
    return y_arr.astype(np.int64)


def feature_range(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature min and max over the flattened records of ``arrays``."""
    flat = np.concatenate([a.reshape(len(a), -1).astype(np.float64) for a in arrays if len(a)])
    return flat.min(axis=0), flat.max(axis=0)


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def shadow_module(attack: Attack, shadow: Target) -> nn.Module:
    from miaudit.targets import TorchTarget

    if not isinstance(shadow, TorchTarget):
        raise DataError(
            f"{attack.name} needs a torch reference recipe: the shadow model must be a torch "
            f"module (TorchTarget, e.g. reference.model: mlp or cnn) to compute gradients, "
            f"got {shadow.description}"
        )
    return shadow.module


class LabelOnlyAttack(Attack):
    """Base of the label-only attacks: they query the target themselves."""

    requires = Needs(access="labels")

    def target_queries(self, n_records: int, n_population: int) -> int:
        """The most label queries this attack sends the target in an audit of ``n_records``
        records with ``n_population`` population records: those of ``fit``
        (:meth:`fit_queries`) and ``max_queries_per_record`` per audited record at scoring
        (the budget the pipeline enforces). Read by a query-budgeted target's audit
        (:mod:`miaudit.pipeline._query_budget`) before the attack runs."""
        per_record = int(getattr(self, "max_queries_per_record", 0))
        return self.fit_queries(n_population) + per_record * int(n_records)

    def fit_queries(self, n_population: int) -> int:
        """The most label queries ``fit`` sends the target (every population record's
        label, by default: the attacks relabel or start from them)."""
        return int(n_population)

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        raise DataError(
            f"{self.name} is a label-only attack: it queries the target itself; call "
            "score_records(target, x, y) (miaudit.audit does), not score_samples(outputs)"
        )
