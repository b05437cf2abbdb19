"""The Target contract: a model the auditor can query, with declared capabilities."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, softmax

CAPABILITIES = frozenset({"probabilities", "logits", "labels", "loss", "parameters"})

# Smallest probability used inside logarithms when only probabilities are known
# (the same floor as miaudit.signals).
_EPS = 1e-30


class CapabilityError(DataError):
    """A target was asked for an output it does not expose (e.g. label-only API probabilities)."""


def as_records(x: object, *, what: str = "x") -> np.ndarray:
    """Return ``x`` as a numeric numpy array with a leading record axis (lists are converted)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise DataError(f"{what} must be an array of records: {e}") from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise DataError(f"{what} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise DataError(f"{what} must have a leading record axis (n, ...), got a scalar")
    return arr


class Target(ABC):
    """A model under audit, queried record by record.

    Attributes:
        num_classes: number of classes C of the model's outputs.
        capabilities: what the target exposes, a subset of
            {"probabilities", "logits", "labels", "loss", "parameters"}.
        query_count: number of records queried so far (each ``predict_*``, ``outputs``
            or ``loss`` call adds ``len(x)``).
        parameters_note: for a target without the "parameters" capability, why it has none
            and what would give them, for the white-box attacks' refusal (e.g. "an ONNX
            file does not expose them: ..."); None for the generic message.
    """

    capabilities: frozenset[str]
    parameters_note: str | None = None

    def __init__(self, capabilities: frozenset[str]) -> None:
        unknown = set(capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(
                f"unknown capabilities {sorted(unknown)}; valid: {sorted(CAPABILITIES)}"
            )
        self.capabilities = frozenset(capabilities)
        self.query_count = 0

    @property
    @abstractmethod
    def num_classes(self) -> int:
        """Number of classes C."""

    @property
    @abstractmethod
    def description(self) -> str:
        """A short human-readable description, e.g. ``torch MLP(446-1024-30, relu)``."""

    # -- hooks for subclasses ------------------------------------------------------------
    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities (n, C); override when the target has probabilities but not logits."""
        return softmax(self._logits(x))

    def _logits(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _labels(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self._proba(x), axis=1)

    def _query(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities and (when exposed) logits in one pass."""
        if "logits" in self.capabilities:
            logits = np.asarray(self._logits(x), dtype=np.float64)
            return softmax(logits), logits
        return np.asarray(self._proba(x), dtype=np.float64), None

    # -- public API ----------------------------------------------------------------------
    def _require(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise CapabilityError(
                f"target {self.description} does not expose {capability} "
                f"(its capabilities: {', '.join(sorted(self.capabilities)) or 'none'})"
            )

    def _start(self, x: object, capability: str) -> np.ndarray:
        self._require(capability)
        arr = as_records(x)
        self.query_count += int(arr.shape[0])
        return arr

    def _check_matrix(self, a: np.ndarray, n: int, what: str) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (n, self.num_classes):
            raise DataError(
                f"target {self.description} returned {what} of shape {a.shape}, "
                f"expected ({n}, {self.num_classes})"
            )
        return a

    def predict_proba(self, x: object) -> np.ndarray:
        """Probability vectors, float64 (n, C)."""
        arr = self._start(x, "probabilities")
        return self._check_matrix(self._proba(arr), arr.shape[0], "probabilities")

    def predict_logits(self, x: object) -> np.ndarray:
        """Pre-softmax scores, float64 (n, C); only for targets with the "logits" capability."""
        arr = self._start(x, "logits")
        return self._check_matrix(self._logits(arr), arr.shape[0], "logits")

    def predict_labels(self, x: object) -> np.ndarray:
        """Predicted labels, int64 (n,)."""
        arr = self._start(x, "labels")
        labels = np.asarray(self._labels(arr))
        if labels.shape != (arr.shape[0],):
            raise DataError(
                f"target {self.description} returned labels of shape {labels.shape}, "
                f"expected ({arr.shape[0]},)"
            )
        return labels.astype(np.int64)

    def outputs(self, x: object, y: object) -> ModelOutputs:
        """Validated outputs on records ``x`` with true labels ``y`` (one query per record).

        Includes logits when the target exposes them. Raises DataError for NaN/inf outputs,
        rows that do not sum to 1 and labels outside the classes.
        """
        self._require("probabilities")
        y_arr = np.asarray(y)
        n_x = as_records(x).shape[0]
        if y_arr.shape != (n_x,):
            raise DataError(f"mismatched lengths: {n_x} records but labels of shape {y_arr.shape}")
        arr = self._start(x, "probabilities")
        probs, logits = self._query(arr)
        n = arr.shape[0]
        probs = self._check_matrix(probs, n, "probabilities")
        if logits is not None:
            logits = self._check_matrix(logits, n, "logits")
            if not np.all(np.isfinite(logits)):
                bad = int(np.sum(~np.isfinite(logits).all(axis=1)))
                raise DataError(
                    f"target {self.description} returned NaN or inf logits in {bad} of {n} rows"
                )
        return ModelOutputs(probs=probs, y=y_arr, logits=logits)

    def loss(self, x: object, y: object) -> np.ndarray:
        """Per-record cross-entropy -log f(x)_y, float64 (n,) (from logits when exposed)."""
        self._require("loss")
        out = self.outputs(x, y)
        idx = np.arange(out.n)
        if out.logits is not None:
            z = out.logits
            m = z.max(axis=1)
            lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
            return lse - z[idx, out.y]
        return -np.log(np.maximum(out.probs[idx, out.y], _EPS))

    def reset_queries(self) -> None:
        """Set ``query_count`` back to zero."""
        self.query_count = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}: {self.num_classes} classes>"
