"""The classifier kind: records ``(x, y)``, answers :class:`~miaudit.outputs.ModelOutputs`,
signals the functions of :mod:`miaudit.signals` (loss, confidences, entropies, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from miaudit.errors import DataError
from miaudit.kinds._kind import resolve_names
from miaudit.kinds._signals import Signals
from miaudit.outputs import ModelOutputs
from miaudit.signals import SIGNALS

if TYPE_CHECKING:  # kinds stay NumPy-only at import time, as attacks do
    from miaudit.targets import Target


@dataclass(frozen=True, eq=False)
class LabeledRecords:
    """A classifier's records: inputs ``x`` (n, ...) with their true labels ``y`` (n,)."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x), np.asarray(self.y)
        if x.ndim == 0 or y.shape != (x.shape[0],):
            raise DataError(
                f"mismatched lengths: records of shape {x.shape} but labels of shape {y.shape}"
            )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: Any) -> LabeledRecords:
        return LabeledRecords(self.x[index], self.y[index])


class ClassifierKind:
    """Classifiers (every target miaudit audits today).

    ``query`` is :meth:`Target.outputs <miaudit.targets.Target.outputs>`: validated
    probabilities, and logits when the target exposes them. ``signals`` applies the
    functions of :data:`miaudit.signals.SIGNALS` unchanged (each a float64 (n,) array), so a
    signal read through this kind has exactly the bits of the function's own result.
    Augmented views (``ModelOutputs.augmented``) are not read: LiRA, which averages over
    them, reads the outputs themselves.
    """

    name = "classifier"
    signal_names: tuple[str, ...] = tuple(SIGNALS)

    def query(self, target: Target, records: LabeledRecords) -> ModelOutputs:
        """The target's outputs on ``records`` (one query per record)."""
        return target.outputs(records.x, records.y)

    def signals(self, answers: ModelOutputs, names: Sequence[str] | None = None) -> Signals:
        """The named signals (all of :attr:`signal_names` when None) of the outputs."""
        if not isinstance(answers, ModelOutputs):
            raise DataError(
                f"the classifier kind computes signals from ModelOutputs, got "
                f"{type(answers).__name__}"
            )
        return Signals(
            answers.n, {name: SIGNALS[name](answers) for name in resolve_names(self, names)}
        )

    def __repr__(self) -> str:
        return "<ClassifierKind>"


#: The classifier kind (stateless; the one instance every classifier attack reads through).
CLASSIFIER = ClassifierKind()
