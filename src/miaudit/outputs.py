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
        augmented: optional outputs of the same model on augmented copies of the same
            records (row i of each is an augmentation of record i; the first is usually the
            identity), used by attacks that average over augmented queries (LiRA).
    """

    probs: np.ndarray
    y: np.ndarray
    logits: np.ndarray | None = None
    augmented: tuple[ModelOutputs, ...] | None = None

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
        if self.augmented is not None:
            augmented = tuple(self.augmented)
            for a in augmented:
                if not isinstance(a, ModelOutputs) or a.probs.shape != probs.shape:
                    raise DataError("augmented outputs must be ModelOutputs of the same shape")
                if not np.array_equal(a.y, y):
                    raise DataError("augmented outputs must carry the same labels")
            object.__setattr__(self, "augmented", augmented)
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

    def views(self) -> tuple[ModelOutputs, ...]:
        """The augmented outputs if any, else just these outputs (one view)."""
        return self.augmented if self.augmented else (self,)

    def subset(self, index: np.ndarray) -> ModelOutputs:
        return ModelOutputs(
            probs=self.probs[index],
            y=self.y[index],
            logits=None if self.logits is None else self.logits[index],
            augmented=None
            if self.augmented is None
            else tuple(a.subset(index) for a in self.augmented),
        )


def concat_outputs(parts: list[ModelOutputs]) -> ModelOutputs:
    """Stack outputs on consecutive record sets (augmentations kept when all parts have them)."""
    logits = None
    if all(p.logits is not None for p in parts):
        logits = np.concatenate([p.logits for p in parts])
    augmented = None
    if all(p.augmented for p in parts) and len({len(p.augmented) for p in parts}) == 1:
        augmented = tuple(
            concat_outputs([p.augmented[k] for p in parts]) for k in range(len(parts[0].augmented))
        )
    return ModelOutputs(
        probs=np.concatenate([p.probs for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        logits=logits,
        augmented=augmented,
    )


@dataclass(frozen=True)
class ReferenceOutputs:
    """Outputs of k reference (shadow) models, with who trained on what.

    Two record sets, each with an explicit membership matrix (DESIGN.md: signals and
    membership matrices are (n_records, n_models)):

    * ``audited``: per model, outputs on the audited records. Row i of ``audited[j]`` is the
      same record as row i of the target outputs passed to ``Attack.score_samples``
      (checked through the labels). ``audited_in[i, j]``: record i was in model j's
      training set. Empty tuple when the models never saw the audited records' label space
      (shadows trained on another data set).
    * ``population``: per model, outputs on the attacker's population records (the same rows
      as ``AttackerKnowledge.population``, unless ``foreign`` is set, when they are the
      other data set's records). ``population_in[i, j]``: record i trained model j.
      ``population_out[i, j]``: record i is a designated non-member of model j (Shokri's
      disjoint out set; for random plans, the complement of ``population_in``).
    * ``train_loss``: per model, its mean cross-entropy on its own training set.
    """

    audited: tuple[ModelOutputs, ...]
    audited_in: np.ndarray
    population: tuple[ModelOutputs, ...]
    population_in: np.ndarray
    population_out: np.ndarray
    train_loss: np.ndarray
    foreign: str | None = None

    def __post_init__(self) -> None:
        k = len(self.population) if self.population else len(self.audited)
        for name in ("audited_in", "population_in", "population_out"):
            m = np.asarray(getattr(self, name), dtype=bool)
            object.__setattr__(self, name, m)
        if self.audited:
            n = self.audited[0].n
            if len(self.audited) != k or self.audited_in.shape != (n, k):
                raise DataError(
                    f"reference outputs: {len(self.audited)} models on the audited records but "
                    f"membership matrix of shape {self.audited_in.shape}"
                )
        if self.population:
            n = self.population[0].n
            for name in ("population_in", "population_out"):
                if getattr(self, name).shape != (n, k):
                    raise DataError(
                        f"reference outputs: {name} has shape {getattr(self, name).shape}, "
                        f"expected {(n, k)}"
                    )
            if np.any(self.population_in & self.population_out):
                raise DataError("reference outputs: a record is both in and out of a model")
        train_loss = np.asarray(self.train_loss, dtype=np.float64)
        if train_loss.shape != (k,):
            raise DataError(f"reference outputs: train_loss must have shape ({k},)")
        object.__setattr__(self, "train_loss", train_loss)

    @property
    def num_models(self) -> int:
        return len(self.population) if self.population else len(self.audited)

    def check_audited(self, outputs: ModelOutputs, attack: str) -> None:
        """Raise unless ``outputs`` are on the same records as ``audited`` (same labels)."""
        if not self.audited:
            raise DataError(f"{attack}: the reference models have no outputs on these records")
        ref = self.audited[0]
        if ref.n != outputs.n or not np.array_equal(ref.y, outputs.y):
            raise DataError(
                f"{attack}: the scored records are not the records the reference models were "
                f"queried on ({outputs.n} vs {ref.n} records, or different labels)"
            )
