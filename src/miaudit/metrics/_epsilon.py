"""Empirical differential-privacy lower bound from an attack's ROC curve.

References: Jagielski, Ullman & Oprea 2020, "Auditing differentially private machine learning:
how private is private SGD?" (NeurIPS), sec. 3 / Alg. 2; Nasr, Song, Thakurta, Papernot &
Carlini 2021, "Adversary instantiation: lower bounds for differentially private machine
learning" (IEEE S&P); Clopper & Pearson 1934 for the binomial intervals.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta

from miaudit.metrics._roc import _roc
from miaudit.metrics._validation import check_fraction, check_scores


def clopper_pearson(k: np.ndarray, n: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided ``1 - alpha`` Clopper-Pearson interval for ``k`` successes in ``n`` trials."""
    k = np.asarray(k, dtype=np.float64)
    lower = np.where(k > 0, beta.ppf(alpha / 2, np.maximum(k, 1), n - k + 1), 0.0)
    upper = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1)), 1.0)
    return lower, upper


def _log_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    ok = (num > 0) & (den > 0)
    return np.log(num[ok] / den[ok])


def epsilon_from_counts(
    tp: np.ndarray, fp: np.ndarray, n_pos: int, n_neg: int, delta: float, alpha: float
) -> float:
    """The bound over the given (TP, FP) count pairs; see :func:`epsilon_lower_bound`."""
    tpr_low, _ = clopper_pearson(tp, n_pos, alpha)
    _, fpr_high = clopper_pearson(fp, n_neg, alpha)
    # The symmetric form bounds TNR from below and FNR from above, as intervals on the
    # counts (TNR_low = 1 - FPR_high and FNR_high = 1 - TPR_low, without cancellation).
    tnr_low, _ = clopper_pearson(n_neg - fp, n_neg, alpha)
    _, fnr_high = clopper_pearson(n_pos - tp, n_pos, alpha)
    logs = np.concatenate(
        [_log_ratio(tpr_low - delta, fpr_high), _log_ratio(tnr_low - delta, fnr_high)]
    )
    return max(0.0, float(logs.max())) if logs.size else 0.0


def roc_corners(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Mask of ROC points not dominated by a neighbour (more TP at the same FP, or fewer FP
    at the same TP). Both forms of the bound grow with TP and shrink with FP, so only these
    corner points can attain the maximum."""
    keep = np.ones(tp.size, dtype=bool)
    keep[1:] &= tp[1:] > tp[:-1]  # first point with its TP: fewest FP for it
    keep[:-1] &= fp[1:] > fp[:-1]  # last point with its FP: most TP for it
    keep[[0, -1]] = True
    return keep


def _epsilon(y: np.ndarray, s: np.ndarray, delta: float, alpha: float) -> float:
    fpr, tpr, _ = _roc(y, s)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    tp = np.rint(tpr * n_pos)  # counts back from tpr = tp / n_pos (exactly rounded)
    fp = np.rint(fpr * n_neg)
    keep = roc_corners(tp, fp)
    return epsilon_from_counts(tp[keep], fp[keep], n_pos, n_neg, delta, alpha)


def epsilon_lower_bound(
    y_true: ArrayLike, y_score: ArrayLike, *, delta: float = 0.0, alpha: float = 0.05
) -> float:
    """Empirical lower bound on the DP epsilon of the training algorithm that made the target.

    For a (eps, delta)-DP mechanism every test satisfies TPR <= e^eps FPR + delta and
    TNR <= e^eps FNR + delta (Jagielski et al. 2020, Thm. 1; Nasr et al. 2021). At each ROC
    threshold this takes Clopper-Pearson two-sided ``1 - alpha`` intervals on the counts and
    computes, conservatively,

        eps >= log((TPR_low - delta) / FPR_high)
        eps >= log((TNR_low - delta) / FNR_high) = log((1 - FPR_high - delta) / (1 - TPR_low))

    and returns the largest over thresholds and both forms, or 0.0 when none is positive.

    Note: the maximum over all thresholds is chosen on the same data the intervals are
    computed from, so the ``1 - alpha`` confidence holds per threshold, not jointly; for a
    rigorous audit choose the threshold on held-out scores and evaluate it on fresh ones.
    """
    y, s = check_scores(y_true, y_score)
    d = check_fraction("delta", delta, low_open=False, high_open=True)
    a = check_fraction("alpha", alpha, low_open=True, high_open=True)
    return _epsilon(y, s, d, a)
