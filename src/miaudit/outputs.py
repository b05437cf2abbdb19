"""Validated model outputs: the numpy value every signal and attack reads.

A :class:`ModelOutputs` holds one model's outputs on a set of records: the probability
matrix, optionally the logits, and the records' true labels. Construction validates
shapes, finiteness, labels and that probability rows sum to one, so attacks never see
malformed data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError

PROB_SUM_ATOL = 1e-3


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_labels(y: np.ndarray, num_classes: int, *, what: str = "labels") -> np.ndarray:
    """Return ``y`` as int64 after checking it is 1-D, integral and within ``[0, num_classes)``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{what} must be 1-D, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"{what} must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)]
        raise DataError(
            f"{what} outside the classes: found {sorted(set(bad.tolist()))[:5]}, "
            f"the model has {num_classes} classes (0..{num_classes - 1})"
        )
    return y


@dataclass(frozen=True)
class ModelOutputs:
    """One model's outputs on n records.

    Attributes:
        probs: float64 (n, C) probability vectors; rows sum to 1.
        y: int64 (n,) true labels in ``[0, C)``.
        logits: optional float64 (n, C) pre-softmax scores (for stable logit-scaled signals).
    """

    probs: np.ndarray
    y: np.ndarray
    logits: np.ndarray | None = None

    def __post_init__(self) -> None:
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim != 2:
            raise DataError(f"probabilities must be a 2-D (n, classes) array, got {probs.shape}")
        n, c = probs.shape
        if c < 2:
            raise DataError(f"probabilities need at least 2 classes, got {c} columns")
        if not np.all(np.isfinite(probs)):
            bad = int(np.sum(~np.isfinite(probs).all(axis=1)))
            raise DataError(f"model outputs contain NaN or inf in {bad} of {n} rows")
        if np.any(probs < -1e-12) or np.any(probs > 1 + 1e-12):
            raise DataError("probabilities must lie in [0, 1]; pass logits=... for raw scores")
        sums = probs.sum(axis=1)
        off = np.abs(sums - 1.0) > PROB_SUM_ATOL
        if np.any(off):
            i = int(np.argmax(off))
            raise DataError(
                f"probability rows must sum to 1: {int(off.sum())} of {n} rows do not "
                f"(row {i} sums to {sums[i]:.6g}); apply softmax to logits first"
            )
        y = np.asarray(self.y)
        if y.shape != (n,):
            raise DataError(
                f"mismatched lengths: {n} probability rows but labels of shape {y.shape}"
            )
        y = check_labels(y, c)
        logits = self.logits
        if logits is not None:
            logits = np.asarray(logits, dtype=np.float64)
            if logits.shape != probs.shape:
                raise DataError(
                    f"logits shape {logits.shape} does not match probabilities {probs.shape}"
                )
            if not np.all(np.isfinite(logits)):
                raise DataError("model logits contain NaN or inf")
        object.__setattr__(self, "probs", np.clip(probs, 0.0, 1.0))
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "logits", logits)

    @classmethod
    def from_logits(cls, logits: np.ndarray, y: np.ndarray) -> ModelOutputs:
        """Build outputs from logits (probabilities by a stable softmax)."""
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 2:
            raise DataError(f"logits must be a 2-D (n, classes) array, got {logits.shape}")
        if not np.all(np.isfinite(logits)):
            raise DataError("model logits contain NaN or inf")
        return cls(probs=softmax(logits), y=y, logits=logits)

    @property
    def n(self) -> int:
        return self.probs.shape[0]

    @property
    def num_classes(self) -> int:
        return self.probs.shape[1]

    @property
    def predicted(self) -> np.ndarray:
        return np.argmax(self.probs, axis=1)

    def subset(self, index: np.ndarray) -> ModelOutputs:
        return ModelOutputs(
            probs=self.probs[index],
            y=self.y[index],
            logits=None if self.logits is None else self.logits[index],
        )
