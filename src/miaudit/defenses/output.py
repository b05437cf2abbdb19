"""Output-perturbation defenses that coarsen what a prediction API reveals (Shokri et al. 2017,
"Membership Inference Attacks Against Machine Learning Models", S&P, sec. VI "Mitigation":
restrict the prediction vector to the top k classes, round it to d digits, or return only the
label; the survey's Table 4).

Each wraps a Target and keeps its predicted labels exactly. The wrapped target exposes
"probabilities", "labels" and "loss" only (never logits, which would reveal the undefended
scores); ``labels_only`` exposes labels only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.targets import LabelOnlyTarget, Target

_DEFENDED_CAPABILITIES = frozenset({"probabilities", "labels", "loss"})


def require_probabilities(defense: str, target: Target) -> None:
    """ConfigError unless ``target`` is a Target exposing probabilities."""
    if not isinstance(target, Target):
        raise ConfigError(f"defense {defense!r} wraps a miaudit Target, got {type(target)}")
    if "probabilities" not in target.capabilities:
        raise ConfigError(
            f"defense {defense!r} perturbs probability vectors, but target "
            f"{target.description} does not expose probabilities"
        )


class TransformedTarget(Target):
    """A Target whose probability vectors are ``transform(inner probabilities)``.

    The transform must keep rows summing to 1 and the argmax of each row. Queries are
    counted here and by the inner target.
    """

    def __init__(
        self, target: Target, transform: Callable[[np.ndarray], np.ndarray], label: str
    ) -> None:
        super().__init__(_DEFENDED_CAPABILITIES)
        self.target = target
        self.transform = transform
        self.label = label

    @property
    def num_classes(self) -> int:
        return self.target.num_classes

    @property
    def description(self) -> str:
        return f"{self.label}({self.target.description})"

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return self.transform(self.target.predict_proba(x))


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Keep each row's k largest probabilities (ties broken towards the lower class index,
    as ``np.argmax``), zero the rest, renormalise."""
    probs = np.asarray(probs, dtype=np.float64)
    if k >= probs.shape[1]:
        return probs.copy()
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = np.zeros_like(probs)
    rows = np.arange(probs.shape[0])[:, None]
    out[rows, order] = probs[rows, order]
    return out / out.sum(axis=1, keepdims=True)


def round_probs(probs: np.ndarray, decimals: int) -> np.ndarray:
    """Round to ``decimals`` digits, keep the argmax, renormalise so rows sum to 1.

    When rounding ties (or zeroes) the top class with another, the top class gets one more
    unit 10^-decimals above the largest other value; rows are then divided by their sum (so
    the values are multiples of 10^-decimals up to that scaling).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n = probs.shape[0]
    label = np.argmax(probs, axis=1)
    r = np.round(probs, decimals)
    rows = np.arange(n)
    others = r.copy()
    others[rows, label] = -np.inf
    best_other = others.max(axis=1)
    bump = r[rows, label] <= best_other
    r[rows[bump], label[bump]] = best_other[bump] + 10.0**-decimals
    return r / r.sum(axis=1, keepdims=True)


@register_defense
class TopK(Defense):
    """Release only the top-k probabilities, renormalised (Shokri et al. 2017, sec. VI).

    Args:
        k: number of classes kept per prediction vector (>= 1; 1 leaves a one-hot vector).
    """

    name = "top_k"
    kind = "inference"
    paper = "Shokri et al. 2017, Membership Inference Attacks Against ML Models (S&P), sec. VI"
    strength_param = "k"

    def __init__(self, *, k: int = 3) -> None:
        self.k = k

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """The target with each probability vector restricted to its top k entries."""
        k = self.k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        require_probabilities(self.name, target)
        return TransformedTarget(target, lambda p: top_k(p, int(k)), f"top-{int(k)}")


@register_defense
class Rounding(Defense):
    """Round probabilities to ``decimals`` digits (Shokri et al. 2017, sec. VI).

    Args:
        decimals: digits kept (>= 0).
    """

    name = "rounding"
    kind = "inference"
    paper = "Shokri et al. 2017, Membership Inference Attacks Against ML Models (S&P), sec. VI"
    strength_param = "decimals"

    def __init__(self, *, decimals: int = 2) -> None:
        self.decimals = decimals

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """The target with rounded, renormalised probability vectors."""
        d = self.decimals
        if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 0:
            raise ConfigError(f"decimals must be a non-negative integer, got {d!r}")
        require_probabilities(self.name, target)
        return TransformedTarget(target, lambda p: round_probs(p, int(d)), f"rounded-{int(d)}")


@register_defense
class LabelsOnly(Defense):
    """Release only the predicted label (Shokri et al. 2017, sec. VI): a LabelOnlyTarget view."""

    name = "labels_only"
    kind = "inference"
    paper = "Shokri et al. 2017, Membership Inference Attacks Against ML Models (S&P), sec. VI"

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """A label-only view of ``target``."""
        if not isinstance(target, Target):
            raise ConfigError(f"defense {self.name!r} wraps a miaudit Target, got {type(target)}")
        return LabelOnlyTarget(target)
