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
from typing import ClassVar

import numpy as np

from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.targets import LabelOnlyTarget, Target
from miaudit.validation import Interval

_DEFENDED_CAPABILITIES = frozenset({"probabilities", "labels", "loss"})


def require_target(defense: str, target: Target) -> None:
    """ConfigError unless ``target`` is a miaudit Target."""
    if not isinstance(target, Target):
        raise ConfigError(f"defense {defense!r} wraps a miaudit Target, got {type(target)}")


def require_probabilities(defense: str, target: Target) -> None:
    """ConfigError unless ``target`` is a Target exposing probabilities."""
    require_target(defense, target)
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


_SHOKRI_VI = "Shokri et al. 2017, Membership Inference Attacks Against ML Models (S&P), sec. VI"


class _OutputDefense(Defense):
    """An inference-time defense that releases a coarser view of a Target's outputs.

    Subclasses declare their parameters' ranges in ``param_constraints`` and build the view
    in ``_view``.
    """

    kind = "inference"
    paper = _SHOKRI_VI

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """``target`` seen through this defense (its parameters are checked first)."""
        self.check_params()
        return self._view(target)

    def _view(self, target: Target) -> Target:
        raise NotImplementedError


class _ProbabilityDefense(_OutputDefense):
    """An output defense that transforms each probability vector with ``perturb(probs, n)``,
    where ``n`` is the integer ``strength_param`` (its range in ``param_constraints``)."""

    strength_param: ClassVar[str]
    #: the wrapped target's label, formatted with ``n``, e.g. "top-{}"
    label: ClassVar[str]
    perturb: ClassVar[Callable[[np.ndarray, int], np.ndarray]]

    def _view(self, target: Target) -> Target:
        require_probabilities(self.name, target)
        n = int(getattr(self, self.strength_param))
        perturb = type(self).perturb
        return TransformedTarget(target, lambda p: perturb(p, n), self.label.format(n))


@register_defense
class TopK(_ProbabilityDefense):
    """Release only the top-k probabilities, renormalised (Shokri et al. 2017, sec. VI).

    Wrapping restricts each probability vector of the target to its top k entries.

    Args:
        k: number of classes kept per prediction vector (>= 1; 1 leaves a one-hot vector).
    """

    name = "top_k"
    preserves_labels = True
    output_effect = "releases only the top-k confidence scores"
    strength_param = "k"
    param_constraints = {"k": Interval(int, 1)}
    label = "top-{}"
    perturb = staticmethod(top_k)

    def __init__(self, *, k: int = 3) -> None:
        self.k = k


@register_defense
class Rounding(_ProbabilityDefense):
    """Round probabilities to ``decimals`` digits (Shokri et al. 2017, sec. VI).

    Wrapping gives the target rounded, renormalised probability vectors.

    Args:
        decimals: digits kept (>= 0).
    """

    name = "rounding"
    preserves_labels = True
    output_effect = "rounds the confidence scores"
    strength_param = "decimals"
    param_constraints = {"decimals": Interval(int, 0)}
    label = "rounded-{}"
    perturb = staticmethod(round_probs)

    def __init__(self, *, decimals: int = 2) -> None:
        self.decimals = decimals


@register_defense
class LabelsOnly(_OutputDefense):
    """Release only the predicted label (Shokri et al. 2017, sec. VI): a LabelOnlyTarget view."""

    name = "labels_only"
    preserves_labels = True
    output_effect = "releases only the predicted label"

    def _view(self, target: Target) -> Target:
        require_target(self.name, target)
        return LabelOnlyTarget(target)
