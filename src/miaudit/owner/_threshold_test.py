"""The owner's threshold test: how many of the owner's records does the attack call members,
against how many reference non-members it calls members (issue 13)?

The rank test (:mod:`miaudit.owner._test`) compares whole score distributions; when only a
few of the owner's records were used, their shift is diluted among the others and the rank
test loses power (BENCHMARKS.md, "How much was used (DUCI)": 10 used records of 100
rejected 1 time in 20). Counting the records above a threshold tau at which the attack
rarely calls a non-member a member concentrates on those few records. tau comes from the
pseudo-targets (reference models scored as targets, :mod:`miaudit.pipeline._pseudo_targets`)
and never from the target's scores, so under H0 (the owner's and the reference records
exchangeable on the target) the 2x2 table (owner / reference x above / not above tau) has
a hypergeometric null given its margins: Fisher's exact test, one-sided, is exact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from miaudit.errors import DataError
from miaudit.validation import check_number

ASSUMPTION = (
    "If none of your records was used, your records and the reference records are "
    "interchangeable samples of the same data on the target. The attack calls a record "
    "'used' when its score is above a threshold chosen on the reference models (never on "
    "the target); the test (one-sided Fisher exact test) asks how unlikely it is that so "
    "many of your records, against so few reference records, are called used. It is exact "
    "under that assumption and more sensitive than the rank test when only a few of your "
    "records were used."
)


@dataclass(frozen=True)
class ThresholdTest:
    """The threshold test's result: ``owner_above`` of ``n_owner`` and ``reference_above``
    of ``n_reference`` records score above ``threshold``; the one-sided Fisher exact
    ``p_value`` and the decision at ``alpha``."""

    p_value: float
    reject: bool
    alpha: float
    threshold: float
    owner_above: int
    reference_above: int
    n_owner: int
    n_reference: int
    test: str = "fisher_threshold"
    assumptions: str = ASSUMPTION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def threshold_test(
    owner_scores: Any, reference_scores: Any, threshold: float, *, alpha: float = 0.05
) -> ThresholdTest:
    """One-sided Fisher exact test of 'more owner records than reference records score
    above ``threshold``' (a threshold fixed without the target's scores)."""
    alpha = float(check_number(alpha, "alpha", low=0, high=1, closed="neither"))
    own = np.asarray(owner_scores, dtype=np.float64)
    ref = np.asarray(reference_scores, dtype=np.float64)
    if own.ndim != 1 or ref.ndim != 1 or own.size < 1 or ref.size < 1:
        raise DataError("the threshold test needs 1-D scores of at least 1 owner and 1 reference")
    if not (np.all(np.isfinite(own)) and np.all(np.isfinite(ref)) and np.isfinite(threshold)):
        raise DataError("the threshold test's scores and threshold must be finite")
    a, b = int(np.sum(own > threshold)), int(np.sum(ref > threshold))
    table = [[a, own.size - a], [b, ref.size - b]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return ThresholdTest(p, p <= alpha, alpha, float(threshold), a, b, own.size, ref.size)
