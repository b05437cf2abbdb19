"""Threshold metrics from the ROC curve.

References: Fawcett 2006 (ROC analysis); Yeom et al. 2018, "Privacy risk in machine learning"
(membership advantage, Def. 4); Carlini et al. 2022, "Membership inference attacks from first
principles" (TPR at low FPR, read off the full ROC curve without interpolation).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as _sk_roc_curve

from miaudit.errors import ConfigError
from miaudit.metrics._validation import check_fraction, check_scores


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC of already validated input: one point per distinct score, plus (0, 0) at +inf."""
    return _sk_roc_curve(y, s, drop_intermediate=False)


def roc_curve(y_true: ArrayLike, y_score: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC curve over every distinct threshold (no grid, no dropped points).

    A record is called a member iff ``score >= threshold``. Returns ``(fpr, tpr, thresholds)``
    with thresholds decreasing; the first point is (0, 0) at threshold ``+inf``, the last
    is (1, 1) at the smallest score. Wraps :func:`sklearn.metrics.roc_curve` with
    ``drop_intermediate=False``.
    """
    return _roc(*check_scores(y_true, y_score))


def auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (ties count one half), via :func:`sklearn.metrics.roc_auc_score`."""
    y, s = check_scores(y_true, y_score)
    return float(roc_auc_score(y, s))


def _tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    return float(tpr[fpr <= level].max())  # (0, 0) always qualifies


def check_level(fpr_level: float) -> float:
    """Check a false-positive-rate level (a number in [0, 1])."""
    return check_fraction("fpr_level", fpr_level, low_open=False, high_open=False)


def tpr_at_fpr(y_true: ArrayLike, y_score: ArrayLike, fpr_level: float) -> float:
    """Largest TPR over ROC points whose FPR is at most ``fpr_level``, without interpolation.

    ROC points are taken per distinct threshold, so tied scores are never split: a tie that
    straddles the level is either wholly in (if its FPR fits) or out. Level 0 gives the TPR
    reachable with no false positive at all (Carlini et al. 2022, sec. III).
    """
    level = check_level(fpr_level)
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return _tpr_at_fpr(fpr, tpr, level)


def _best_balanced(fpr: np.ndarray, tpr: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    # Skip the +inf point: its TPR - FPR is 0, which the last point (1, 1) also reaches,
    # so the maximum is unchanged and the returned threshold is always a real score.
    gap = tpr[1:] - fpr[1:]
    i = int(np.argmax(gap))  # first maximum = largest threshold achieving it
    return float(0.5 * (1.0 + gap[i])), float(thresholds[1 + i])


def balanced_accuracy(y_true: ArrayLike, y_score: ArrayLike) -> tuple[float, float]:
    """Best balanced accuracy over thresholds, ``(1 + max(TPR - FPR)) / 2``, and its threshold.

    A record is a member iff ``score >= threshold``; among thresholds achieving the best
    value, the largest is returned (always one of the scores, never infinite).
    """
    return _best_balanced(*roc_curve(y_true, y_score))


def advantage(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Membership advantage ``max_t TPR(t) - FPR(t)`` (Yeom et al. 2018, Def. 4); in [0, 1]."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return float(np.max(tpr - fpr))


def _precision_recall(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[float, float]:
    predicted = s >= threshold
    n_predicted = int(predicted.sum())
    tp = int(np.count_nonzero(predicted & y))
    precision = tp / n_predicted if n_predicted else 0.0
    return precision, tp / int(y.sum())


def precision_recall_at(
    y_true: ArrayLike, y_score: ArrayLike, threshold: float
) -> tuple[float, float]:
    """Precision and recall when a record is called a member iff ``score >= threshold``.

    Precision is defined as 0.0 when no record is called a member (0/0).
    """
    y, s = check_scores(y_true, y_score)
    t = float(threshold)
    if np.isnan(t):
        raise ConfigError("threshold must be a number, got NaN")
    return _precision_recall(y, s, t)
