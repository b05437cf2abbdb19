"""``TokenAnswers``: a causal language model's answers on n records (NumPy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError

#: log-probabilities above this (rounding of a log-softmax in float32) are refused as
#: impossible (a log-probability is at most 0)
_LOGP_SLACK = 1e-4


def _frozen(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class TokenAnswers:
    """Per predicted token of each record: log p(x_i | x_<i) under the model, and the mean
    ``mu`` and variance ``var`` of log p(z | x_<i) over the model's next-token distribution
    z ~ p(. | x_<i) (the per-token calibration of Min-K%++, Zhang et al. 2025, eq. 2-3).

    Every token of a record is predicted: tokenizers with a beginning-of-sequence token
    put it before the record, so the first token is scored from it. Ragged records are
    padded to the longest: ``mask`` marks the real tokens (padding holds 0).

    Attributes:
        logp, mu, var: float64 (n, L).
        mask: bool (n, L); every record has at least one real token.
    """

    logp: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    mask: np.ndarray
    #: bool (n, L): the true token is the model's most likely one (next-token accuracy);
    #: None when the model did not say
    top1: np.ndarray | None = None

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask)
        if mask.dtype != np.bool_ or mask.ndim != 2:
            raise DataError(
                f"token mask must be a 2-D boolean array, got {mask.dtype} {mask.shape}"
            )
        arrays = {}
        for name in ("logp", "mu", "var"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.shape != mask.shape:
                raise DataError(f"token {name} has shape {a.shape}, the mask {mask.shape}")
            if not np.all(np.isfinite(a[mask])):
                raise DataError(f"the language model gave NaN or inf token {name}")
            arrays[name] = np.where(mask, a, 0.0)
        if mask.shape[0] and not mask.any(axis=1).all():
            empty = int(np.flatnonzero(~mask.any(axis=1))[0])
            raise DataError(f"record {empty} has no scored token (an empty record?)")
        if np.any(arrays["logp"] > _LOGP_SLACK) or np.any(arrays["mu"] > _LOGP_SLACK):
            raise DataError(
                "token log-probabilities above 0: the model's outputs are not log-probabilities"
            )
        if np.any(arrays["var"] < -_LOGP_SLACK):
            raise DataError("negative token variances: the model's outputs are not a distribution")
        arrays["logp"] = np.minimum(arrays["logp"], 0.0)
        arrays["mu"] = np.minimum(arrays["mu"], 0.0)
        arrays["var"] = np.maximum(arrays["var"], 0.0)
        for name, a in arrays.items():
            object.__setattr__(self, name, _frozen(a))
        object.__setattr__(self, "mask", _frozen(mask))
        if self.top1 is not None:
            top1 = np.asarray(self.top1)
            if top1.dtype != np.bool_ or top1.shape != mask.shape:
                raise DataError(f"token top1 must be boolean of shape {mask.shape}")
            object.__setattr__(self, "top1", _frozen(top1 & mask))

    @property
    def n(self) -> int:
        return int(self.mask.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """Number of scored tokens of each record, int64 (n,)."""
        return self.mask.sum(axis=1).astype(np.int64)

    def loss(self) -> np.ndarray:
        """Mean token loss -mean_i log p_i of each record (its log-perplexity), (n,)."""
        return -self.logp.sum(axis=1) / self.lengths

    def log_likelihood(self) -> np.ndarray:
        """log p(x) = sum_i log p_i of each record, (n,)."""
        return self.logp.sum(axis=1)

    def accuracy(self) -> float:
        """Next-token accuracy over all tokens (NaN when ``top1`` is unknown)."""
        if self.top1 is None or not self.mask.any():
            return float("nan")
        return float(self.top1.sum() / self.mask.sum())

    def subset(self, index: np.ndarray) -> TokenAnswers:
        index = np.asarray(index)
        top1 = None if self.top1 is None else self.top1[index]
        return TokenAnswers(
            self.logp[index], self.mu[index], self.var[index], self.mask[index], top1
        )

    # -- the reference-model cache's format (miaudit.reference._cache) ------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"logp": self.logp, "mu": self.mu, "var": self.var, "mask": self.mask}
        if self.top1 is not None:
            arrays["top1"] = self.top1
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TokenAnswers:
        top1 = arrays.get("top1")
        return cls(arrays["logp"], arrays["mu"], arrays["var"], arrays["mask"], top1)

    def __repr__(self) -> str:
        return f"<TokenAnswers of {self.n} records, {int(self.mask.sum())} tokens>"
