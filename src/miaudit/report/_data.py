"""Pure NumPy helpers for the report: ROC points, rank percentiles, records most at risk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import auc as area_under_curve
from sklearn.metrics import roc_curve

from miaudit.results import AttackResult


@dataclass(frozen=True)
class Curve:
    """One attack's ROC curve on the audited records."""

    name: str
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


@dataclass(frozen=True)
class AtRisk:
    """The records ranked most at risk: mean rank percentile over attacks, highest first."""

    record_ids: np.ndarray
    members: np.ndarray
    mean_percentile: np.ndarray
    percentiles: np.ndarray  # (k, n_attacks)
    attack_names: list[str]
    #: the records' texts (a language-model audit), else None
    texts: list[str] | None = None


def usable(attack: AttackResult, n: int) -> bool:
    """Whether an attack completed and has one score per audited record."""
    if attack.error is not None or attack.scores is None:
        return False
    return np.shape(attack.scores) == (n,)


def finite_scores(scores: np.ndarray) -> np.ndarray:
    """Scores as float64 ranks-compatible values: NaN counts as the least member-like score."""
    s = np.asarray(scores, dtype=np.float64).copy()
    s[np.isnan(s)] = -np.inf
    return s


def rank_percentiles(scores: np.ndarray) -> np.ndarray:
    """Percentile rank (0-100) of each score among all scores; ties share their mean rank.

    Defined as ``100 * (rank - 0.5) / n`` so the highest of n distinct scores gets
    ``100 - 50/n``; scores of different attacks become comparable.
    """
    s = finite_scores(scores)
    if s.size == 0:
        return s
    return 100.0 * (rankdata(s, method="average") - 0.5) / s.size


def roc(name: str, membership: np.ndarray, scores: np.ndarray) -> Curve | None:
    """ROC curve (all thresholds kept) or None when the records are all of one class."""
    y = np.asarray(membership, dtype=bool)
    if y.all() or not y.any():
        return None
    # ROC depends only on the order of the scores; ranks are finite even for +-inf scores.
    ranks = rankdata(finite_scores(scores), method="average")
    fpr, tpr, _ = roc_curve(y, ranks, drop_intermediate=False)
    return Curve(name=name, fpr=fpr, tpr=tpr, auc=float(area_under_curve(fpr, tpr)))


def tpr_at(curve: Curve, fpr_level: float) -> float:
    """Highest TPR the curve reaches at a false-positive rate of at most ``fpr_level``."""
    ok = curve.fpr <= fpr_level + 1e-12
    return float(curve.tpr[ok].max()) if ok.any() else 0.0


def records_at_risk(
    attacks: list[AttackResult],
    membership: np.ndarray,
    record_ids: np.ndarray,
    k: int = 20,
    texts: list[str] | None = None,
) -> AtRisk | None:
    """Top ``k`` records by mean per-attack rank percentile (ties broken by record id);
    ``texts``: the audited records' texts in record order (shown as snippets)."""
    n = len(membership)
    ok = [a for a in attacks if usable(a, n)]
    if not ok or n == 0:
        return None
    pct = np.column_stack([rank_percentiles(a.scores) for a in ok])  # type: ignore[arg-type]
    mean = pct.mean(axis=1)
    ids = np.asarray(record_ids)
    order = np.lexsort((ids, -mean))[:k]
    return AtRisk(
        record_ids=ids[order],
        members=np.asarray(membership, dtype=bool)[order],
        mean_percentile=mean[order],
        percentiles=pct[order],
        attack_names=[a.name for a in ok],
        texts=None if texts is None or len(texts) != n else [texts[i] for i in order],
    )
