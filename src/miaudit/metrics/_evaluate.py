"""All headline metrics of one attack's scores in one call."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from miaudit.errors import ConfigError
from miaudit.metrics._bootstrap import (
    auc_rows,
    check_resamples,
    percentile_interval,
    resample_indices,
    row_values,
    score_codes,
    tpr_at_fpr_rows,
)
from miaudit.metrics._epsilon import _epsilon, _epsilon_heldout
from miaudit.metrics._roc import _best_balanced, _precision_recall, _roc, _tpr_at_fpr, check_level
from miaudit.metrics._validation import check_scores


def level_key(level: float) -> str:
    """Dictionary key of an FPR level: ``0.001 -> "0.001"``."""
    return str(float(level))


@dataclass(frozen=True)
class AttackMetrics:
    """Metrics of one attack's membership scores (see :func:`evaluate_scores`).

    ``tpr_at_fpr`` and ``tpr_at_fpr_ci`` are keyed by the FPR level as a string ("0.001").
    The intervals are None when no bootstrap was asked for (``n_resamples=0``).
    ``precision`` and ``recall`` are at ``threshold`` (member iff score >= threshold).
    ``epsilon_lower_bound`` is maximised over thresholds on the same records (optimistic);
    ``epsilon_lower_bound_heldout`` is the valid held-out one (threshold chosen on half the
    records, bound on the other half).
    """

    auc: float
    auc_ci: tuple[float, float] | None
    tpr_at_fpr: dict[str, float]
    tpr_at_fpr_ci: dict[str, tuple[float, float] | None]
    balanced_accuracy: float
    advantage: float
    epsilon_lower_bound: float
    epsilon_lower_bound_heldout: float
    threshold: float
    precision: float
    recall: float
    n_members: int
    n_nonmembers: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (plain floats, ints and lists) with the field names as keys."""
        return {
            "auc": float(self.auc),
            "auc_ci": _interval(self.auc_ci),
            "tpr_at_fpr": {k: float(v) for k, v in self.tpr_at_fpr.items()},
            "tpr_at_fpr_ci": {k: _interval(ci) for k, ci in self.tpr_at_fpr_ci.items()},
            "balanced_accuracy": float(self.balanced_accuracy),
            "advantage": float(self.advantage),
            "epsilon_lower_bound": float(self.epsilon_lower_bound),
            "epsilon_lower_bound_heldout": float(self.epsilon_lower_bound_heldout),
            "threshold": float(self.threshold),
            "precision": float(self.precision),
            "recall": float(self.recall),
            "n_members": int(self.n_members),
            "n_nonmembers": int(self.n_nonmembers),
        }


def _interval(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(v) for v in ci]


def evaluate_scores(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    threshold: float | None = None,
    levels: Sequence[float] = (0.001, 0.01, 0.1),
    n_resamples: int = 200,
    seed: int = 0,
) -> AttackMetrics:
    """AUC, TPR at each FPR level, balanced accuracy, advantage and epsilon lower bound.

    AUC and TPR-at-FPR get 95% stratified percentile bootstrap intervals from one shared set
    of ``n_resamples`` resamples (the same ones :func:`bootstrap_ci` draws with ``seed``);
    ``n_resamples=0`` computes no intervals (they are None; issue 9 item 9: an audit with
    ``bootstrap: 0`` failed every attack after all reference models had trained).
    Precision and recall are at ``threshold``, or, when it is None, at the threshold of the
    best balanced accuracy. The epsilon bounds use delta = 0 and 95% Clopper-Pearson intervals:
    ``epsilon_lower_bound`` is :func:`epsilon_lower_bound` (max over thresholds, optimistic),
    ``epsilon_lower_bound_heldout`` is :func:`epsilon_lower_bound_heldout` with ``seed`` (0.0
    when there are fewer than 2 members or 2 non-members to split).
    """
    y, s = check_scores(y_true, y_score)
    checked_levels = [check_level(level) for level in levels]
    with_ci = not (isinstance(n_resamples, int | np.integer) and n_resamples == 0)
    if with_ci:
        n_resamples, ci_level = check_resamples(n_resamples, 0.95)
    if threshold is not None and np.isnan(float(threshold)):
        raise ConfigError("threshold must be a number or None, got NaN")

    fpr, tpr, thresholds = _roc(y, s)
    ba, best_threshold = _best_balanced(fpr, tpr, thresholds)
    t = best_threshold if threshold is None else float(threshold)
    precision, recall = _precision_recall(y, s, t)

    cis: dict[str, tuple[float, float] | None] = {
        name: None for name in ["auc", *(level_key(lv) for lv in checked_levels)]
    }
    if with_ci:
        pos_idx, neg_idx = resample_indices(y, n_resamples, np.random.default_rng(seed))
        codes, n_codes = score_codes(s)
        rows = {"auc": auc_rows} | {
            level_key(lv): functools.partial(tpr_at_fpr_rows, level=lv) for lv in checked_levels
        }
        cis = {
            name: percentile_interval(row_values(f, codes, n_codes, pos_idx, neg_idx), ci_level)
            for name, f in rows.items()
        }

    n_members = int(y.sum())
    n_small = min(n_members, y.size - n_members) < 2  # too few to split in halves
    eps_heldout = 0.0 if n_small else _epsilon_heldout(y, s, 0.0, 0.05, seed)
    return AttackMetrics(
        auc=float(roc_auc_score(y, s)),
        auc_ci=cis.pop("auc"),
        tpr_at_fpr={level_key(lv): _tpr_at_fpr(fpr, tpr, lv) for lv in checked_levels},
        tpr_at_fpr_ci=cis,
        balanced_accuracy=ba,
        advantage=float(np.max(tpr - fpr)),
        epsilon_lower_bound=_epsilon(y, s, 0.0, 0.05),
        epsilon_lower_bound_heldout=eps_heldout,
        threshold=t,
        precision=precision,
        recall=recall,
        n_members=n_members,
        n_nonmembers=int(y.size - n_members),
    )
