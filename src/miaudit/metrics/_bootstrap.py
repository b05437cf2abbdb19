"""Stratified percentile bootstrap for attack metrics.

Reference: Efron & Tibshirani 1993, "An introduction to the bootstrap", ch. 13 (percentile
intervals). AUC uses the Mann-Whitney identity (Hanley & McNeil 1982), vectorised over all
resamples at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from miaudit.metrics._roc import auc, check_level, tpr_at_fpr
from miaudit.metrics._validation import check_fraction, check_scores
from miaudit.resources import bootstrap_bytes, require_memory
from miaudit.validation import check_int

Statistic = Callable[[np.ndarray, np.ndarray], float]
# (member codes (B, p), non-member codes (B, q), number of codes) -> (B,) values
RowStatistic = Callable[[np.ndarray, np.ndarray, int], np.ndarray]

# Bound on the elements of each (resamples x records) block the vectorised paths hold.
_CHUNK_ELEMENTS = 1 << 22


def resample_indices(
    y: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified bootstrap indices: ``(B, n_members)`` into the members, then ``(B, n_non)``.

    Members and non-members are resampled separately (with replacement, same counts as the
    data), so every resample has both and the class balance is fixed. Refuses
    (ResourceError) resample counts whose indices cannot fit in memory, before drawing them.
    """
    require_memory(
        bootstrap_bytes(n_resamples, y.size),
        f"a bootstrap of {n_resamples:,} resamples of {y.size:,} records",
        "use fewer resamples (evaluation.bootstrap; 200 is the default)",
    )
    members = np.flatnonzero(y)
    nonmembers = np.flatnonzero(~y)
    pos = members[rng.integers(0, members.size, size=(n_resamples, members.size))]
    neg = nonmembers[rng.integers(0, nonmembers.size, size=(n_resamples, nonmembers.size))]
    return pos, neg


def score_codes(s: np.ndarray) -> tuple[np.ndarray, int]:
    """Order-preserving integer codes of the scores (ties share a code) and their count."""
    uniq, codes = np.unique(s, return_inverse=True)
    return codes.reshape(-1), int(uniq.size)


def _row_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Per row, how many entries take each code: (B, k) codes -> (B, n_codes) counts."""
    n_rows = codes.shape[0]
    flat = (codes + (np.arange(n_rows) * n_codes)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rows * n_codes).reshape(n_rows, n_codes)


def auc_rows(pos: np.ndarray, neg: np.ndarray, n_codes: int) -> np.ndarray:
    """AUC of each row from score codes: members ``pos`` (B, p) against non-members (B, q).

    Mann-Whitney: AUC = #{member > non-member} + 1/2 #{ties}, over p q, counted per code
    with one bincount per matrix (no sorting); the counts are exact integers.
    """
    p, q = pos.shape[1], neg.shape[1]
    pos_counts = _row_counts(pos, n_codes)
    neg_counts = _row_counts(neg, n_codes)
    below = np.cumsum(neg_counts, axis=1) - neg_counts
    twice_u = (pos_counts * (2 * below + neg_counts)).sum(axis=1)
    return twice_u / (2.0 * p * q)


def _max_false_positives(level: float, n_neg: int) -> int:
    """Largest k with k / n_neg <= level, in the same float arithmetic as the ROC curve."""
    fpr = np.arange(n_neg + 1, dtype=np.float64) / float(n_neg)
    return int(np.searchsorted(fpr, level, side="right")) - 1


def tpr_at_fpr_rows(pos: np.ndarray, neg: np.ndarray, n_codes: int, level: float) -> np.ndarray:
    """:func:`tpr_at_fpr` of each row of member / non-member scores (or their codes).

    With k the most false positives allowed, a threshold is allowed iff it lies above the
    (k+1)-th largest non-member score v, so the best TPR is the fraction of members above v.
    """
    p, q = pos.shape[1], neg.shape[1]
    k = _max_false_positives(level, q)
    if k >= q:
        return np.ones(pos.shape[0])
    v = np.partition(neg, q - 1 - k, axis=1)[:, q - 1 - k]
    return np.count_nonzero(pos > v[:, None], axis=1) / float(p)


def _row_statistic(statistic: Statistic) -> RowStatistic | None:
    """The vectorised form of ``statistic`` when one is known, else None."""
    if statistic is auc:
        return auc_rows
    if (
        isinstance(statistic, functools.partial)
        and statistic.func is tpr_at_fpr
        and not statistic.args
        and set(statistic.keywords) == {"fpr_level"}
    ):
        level = check_level(statistic.keywords["fpr_level"])
        return functools.partial(tpr_at_fpr_rows, level=level)
    return None


def bootstrap_values(
    y: np.ndarray,
    s: np.ndarray,
    statistic: Statistic,
    pos_idx: np.ndarray,
    neg_idx: np.ndarray,
) -> np.ndarray:
    """The statistic on every resample (vectorised for known statistics, else a loop)."""
    rows = _row_statistic(statistic)
    if rows is None:
        return bootstrap_values_loop(y, s, statistic, pos_idx, neg_idx)
    codes, n_codes = score_codes(s)
    return row_values(rows, codes, n_codes, pos_idx, neg_idx)


def row_values(
    rows: RowStatistic,
    codes: np.ndarray,
    n_codes: int,
    pos_idx: np.ndarray,
    neg_idx: np.ndarray,
) -> np.ndarray:
    """Apply a vectorised statistic to the resamples, a bounded block of rows at a time."""
    n_resamples = pos_idx.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(codes.size, n_codes))
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        sl = slice(start, start + chunk)
        out[sl] = rows(codes[pos_idx[sl]], codes[neg_idx[sl]], n_codes)
    return out


def bootstrap_values_loop(
    y: np.ndarray,
    s: np.ndarray,
    statistic: Statistic,
    pos_idx: np.ndarray,
    neg_idx: np.ndarray,
) -> np.ndarray:
    """Slow, obvious reference: call ``statistic`` on each resample in turn."""
    out = np.empty(pos_idx.shape[0])
    for b in range(pos_idx.shape[0]):
        idx = np.concatenate([pos_idx[b], neg_idx[b]])
        out[b] = statistic(y[idx], s[idx])
    return out


def check_resamples(n_resamples: int, level: float) -> tuple[int, float]:
    """Check the bootstrap settings."""
    return check_int(n_resamples, "n_resamples", low=1), check_fraction(
        "level", level, low_open=True, high_open=True
    )


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Central ``level`` percentile interval of bootstrap values."""
    lo, hi = np.percentile(values, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return float(lo), float(hi)


def bootstrap_ci(
    y_true: ArrayLike,
    y_score: ArrayLike,
    statistic: Statistic,
    *,
    n_resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Stratified percentile bootstrap interval ``(lo, hi)`` of ``statistic(y_true, y_score)``.

    Members and non-members are resampled separately with ``np.random.default_rng(seed)``.
    ``auc`` and ``functools.partial(tpr_at_fpr, fpr_level=...)`` run vectorised over all
    resamples at once (the loop's values; AUC to rounding); any other callable runs in a loop.
    """
    y, s = check_scores(y_true, y_score)
    n_resamples, level = check_resamples(n_resamples, level)
    pos_idx, neg_idx = resample_indices(y, n_resamples, np.random.default_rng(seed))
    return percentile_interval(bootstrap_values(y, s, statistic, pos_idx, neg_idx), level)
