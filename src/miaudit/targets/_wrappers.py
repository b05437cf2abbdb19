"""Targets built from other targets or from outputs computed offline; ``as_target``."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from torch import nn

from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, softmax
from miaudit.targets._base import Target, as_records
from miaudit.targets._sklearn import SklearnTarget
from miaudit.targets._torch import TorchTarget


class QueryBudgetExceeded(DataError):
    """A label-only attack asked for more queries than its budget allows."""


class LabelOnlyTarget(Target):
    """Exposes only the predicted labels of ``target`` (a label-only API).

    ``predict_proba``, ``predict_logits``, ``outputs`` and ``loss`` raise
    :class:`~miaudit.targets.CapabilityError`. Queries are counted here (and by the
    wrapped target). With ``max_queries`` set, a call that would exceed it raises
    :class:`QueryBudgetExceeded` before querying.
    """

    def __init__(self, target: Target, *, max_queries: int | None = None) -> None:
        super().__init__(frozenset({"labels"}))
        self.max_queries = max_queries
        if not isinstance(target, Target):
            raise DataError(
                f"LabelOnlyTarget wraps a miaudit Target, got {type(target).__name__}; "
                "use as_target(model) first"
            )
        if "labels" not in target.capabilities:
            raise DataError(f"target {target.description} does not expose labels")
        self.target = target

    @property
    def num_classes(self) -> int:
        return self.target.num_classes

    @property
    def description(self) -> str:
        return f"label-only {self.target.description}"

    @property
    def queries_left(self) -> int | None:
        return None if self.max_queries is None else self.max_queries - self.query_count

    def _labels(self, x: np.ndarray) -> np.ndarray:
        # query_count already includes this call's records (counted on entry)
        if self.max_queries is not None and self.query_count > self.max_queries:
            self.query_count -= int(x.shape[0])  # refused: nothing was asked of the model
            raise QueryBudgetExceeded(
                f"query budget exceeded: {self.query_count} queries asked, budget "
                f"{self.max_queries}"
            )
        return self.target.predict_labels(x)


def _row_keys(x: np.ndarray) -> list[bytes]:
    """One 16-byte BLAKE2b digest per record of the float32 record bytes."""
    n = x.shape[0]
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(n, -1)
    # +0.0 turns -0.0 into 0.0 so that equal-valued records hash alike.
    flat = flat + np.float32(0.0)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


class PrecomputedTarget(Target):
    """Outputs computed offline for known records, looked up by the record's content.

    Records are matched exactly on their values after conversion to float32 (a hash of
    each record's bytes). Querying a record that is not in ``x`` raises DataError.

    Args:
        x: the known records, (n, ...).
        probs: their probability vectors (n, C); computed by softmax when only logits given.
        logits: their logits (n, C), optional; adds the "logits" capability.
    """

    def __init__(
        self, x: object, probs: object | None = None, logits: object | None = None
    ) -> None:
        caps = {"probabilities", "labels", "loss"}
        if logits is not None:
            caps.add("logits")
        super().__init__(frozenset(caps))
        x_arr = as_records(x)
        if probs is None and logits is None:
            raise DataError("PrecomputedTarget needs probs=..., logits=... or both")
        n = x_arr.shape[0]
        logits_arr = None if logits is None else np.asarray(logits, dtype=np.float64)
        if probs is None:
            assert logits_arr is not None
            if logits_arr.ndim != 2:
                raise DataError(f"logits must be a 2-D (n, classes) array, got {logits_arr.shape}")
            if not np.all(np.isfinite(logits_arr)):
                raise DataError("precomputed logits contain NaN or inf")
            probs = softmax(logits_arr)
        probs_arr = np.asarray(probs, dtype=np.float64)
        if probs_arr.ndim != 2 or probs_arr.shape[0] != n:
            raise DataError(
                f"precomputed outputs of shape {probs_arr.shape} do not match {n} records"
            )
        # Validates finiteness, [0, 1], rows summing to 1 and the logits' shape.
        checked = ModelOutputs(probs=probs_arr, y=np.zeros(n, dtype=np.int64), logits=logits_arr)
        self._probs = checked.probs
        self._logits_table = checked.logits
        self._record_shape = tuple(x_arr.shape[1:])
        self._index: dict[bytes, int] = {}
        for i, key in enumerate(_row_keys(x_arr)):
            j = self._index.setdefault(key, i)
            if j != i and not np.array_equal(self._probs[i], self._probs[j]):
                raise DataError(
                    f"records {j} and {i} are identical but have different precomputed outputs"
                )

    @property
    def num_classes(self) -> int:
        return int(self._probs.shape[1])

    @property
    def description(self) -> str:
        return f"precomputed outputs ({len(self._index)} records)"

    def _rows(self, x: np.ndarray) -> np.ndarray:
        if tuple(x.shape[1:]) != self._record_shape:
            raise DataError(
                f"records of shape {tuple(x.shape[1:])} queried, but the precomputed records "
                f"have shape {self._record_shape}"
            )
        rows = np.empty(x.shape[0], dtype=np.int64)
        for i, key in enumerate(_row_keys(x)):
            j = self._index.get(key)
            if j is None:
                raise DataError(
                    f"record not in the precomputed outputs (query row {i}); a precomputed "
                    "target only answers for the records it was built with"
                )
            rows[i] = j
        return rows

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return self._probs[self._rows(x)]

    def _logits(self, x: np.ndarray) -> np.ndarray:
        assert self._logits_table is not None
        return self._logits_table[self._rows(x)]


def as_target(model: Any, *, num_classes: int | None = None) -> Target:
    """Wrap ``model`` as a :class:`Target`.

    A Target is returned as is; a ``torch.nn.Module`` becomes a :class:`TorchTarget`; an
    object with ``predict_proba`` (a fitted scikit-learn classifier) becomes a
    :class:`SklearnTarget`. Anything else raises DataError.
    """
    if isinstance(model, Target):
        if num_classes is not None and model.num_classes != num_classes:
            raise DataError(
                f"target {model.description} has {model.num_classes} classes, "
                f"but num_classes={num_classes} was given"
            )
        return model
    if isinstance(model, nn.Module):
        return TorchTarget(model, num_classes=num_classes)
    if callable(getattr(model, "predict_proba", None)):
        return SklearnTarget(model, num_classes=num_classes)
    raise DataError(
        f"cannot audit a {type(model).__name__}: pass a miaudit Target, a torch.nn.Module "
        "returning logits, or a fitted classifier with predict_proba (scikit-learn); "
        "for outputs computed offline use PrecomputedTarget, for a label-only API "
        "LabelOnlyTarget"
    )
