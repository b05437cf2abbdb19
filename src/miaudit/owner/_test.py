"""The data owner's hypothesis test: were any of these records used to train the model?

H0: none of the owner's records was in the training set. Under H0 the owner's records and
the reference non-members (records known not to be in training, from the same
distribution) are exchangeable, so their attack scores are too, provided the attack was
fitted without them (any miaudit attack: its scores are a per-record function of the
target's answers and of what it fitted on other records). H1 (one-sided): the owner's
scores are larger (higher = more member-like, the project's convention).

Two tests (issue 13):

* ``mann_whitney`` (the default): the one-sided Mann-Whitney U (Wilcoxon rank-sum) test.
  It assumes only exchangeability under H0: no normality, any score scale (bounded RMIA
  fractions, heavy-tailed LiRA log-ratios, tied label-only scores). P-values are exact for
  small owner sets (scipy's exact null distribution; with ties a seeded permutation test,
  p = (1 + #{resamples >= observed}) / (1 + B), valid at any size) and asymptotic (normal,
  tie-corrected) from 8 owner and 8 reference records on.
* ``welch``: the one-sided Welch t-test on the scores, as Maini et al. 2021 ("Dataset
  Inference", ICLR) and Maini et al. 2024 ("LLM Dataset Inference", NeurIPS) use. It
  assumes the mean score of each group is close to normal; with few owner records and
  skewed scores its p-values can be too small (the validity simulation shows where).

The effect size is the probability that an owner record scores above a reference one
(AUC = U / (m r), 0.5 under H0) for both tests, and Cohen's d for Welch as well.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from miaudit.errors import ConfigError, DataError
from miaudit.validation import check_number

TestName = Literal["mann_whitney", "welch"]
TESTS = ("mann_whitney", "welch")
#: permutation resamples for the rank test on small, tied samples
PERMUTATIONS = 9999

ASSUMPTIONS = {
    "mann_whitney": (
        "If none of your records was used, your records and the reference records are "
        "interchangeable samples of the same data, so each of your records is as likely as "
        "any reference record to get a high score. The test (one-sided Mann-Whitney U, a "
        "rank test) asks how unlikely your records' ranks among all the scores are under "
        "that assumption; it assumes nothing about the shape of the scores."
    ),
    "welch": (
        "If none of your records was used, your records' mean score equals the reference "
        "records' mean score. The test (one-sided Welch t-test, Maini et al. 2021) also "
        "assumes the two mean scores are close to normally distributed, which needs many "
        "records when scores are skewed."
    ),
}


@dataclass(frozen=True)
class OwnerTest:
    """The result of the owner's test.

    Attributes:
        test: "mann_whitney" or "welch".
        alpha: the significance level.
        p_value: the probability, under H0, of scores at least as extreme as observed.
        reject: p_value <= alpha: the records were (some of them) used, at level alpha.
        statistic: U or t.
        auc: P(owner score > reference score) + 0.5 P(equal): 0.5 under H0.
        cohens_d: (mean owner - mean reference) / pooled std (Welch only, else None).
        n_owner, n_reference: records in each group.
        method: how the p-value was computed ("exact", "permutation", "asymptotic", "t").
        assumptions: the test's assumptions in words.
    """

    test: str
    alpha: float
    p_value: float
    reject: bool
    statistic: float
    auc: float
    n_owner: int
    n_reference: int
    method: str
    assumptions: str
    cohens_d: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def answer(self) -> str:
        """One sentence for a non-specialist."""
        if self.reject:
            return (
                f"Yes: the model treats your {self.n_owner} record(s) like training data "
                f"(p = {self.p_value:.3g} <= {self.alpha:g}); it is unlikely that none was used."
            )
        return (
            f"No evidence: your {self.n_owner} record(s) look like records the model never saw "
            f"(p = {self.p_value:.3g} > {self.alpha:g}). This does not prove they were not "
            "used: a model can use records without leaking them."
        )


def min_p_value(n_owner: int, n_reference: int) -> float:
    """The smallest p-value the rank test can give: 1 / C(m + r, m) (no ties), from
    log-gammas (rounded to 12 significant digits, so 1 / 20 is 0.05 exactly)."""
    log_c = (
        math.lgamma(n_owner + n_reference + 1)
        - math.lgamma(n_owner + 1)
        - math.lgamma(n_reference + 1)
    )
    return float(f"{math.exp(-log_c):.12g}")


@functools.lru_cache(maxsize=64)
def _u_tail(m: int, r: int) -> np.ndarray:
    """P(U >= u) for u = 0..m r under H0 without ties: U's null distribution from its
    generating function, the Gaussian binomial prod_i (1 - q^(r+i)) / (1 - q^i) over
    i = 1..m (each partial product has non-negative coefficients; float64, renormalised).
    The same numbers as scipy's exact Mann-Whitney distribution, computed once per (m, r)."""
    c = np.zeros(m * r + 1)
    c[0] = 1.0
    for i in range(1, m + 1):
        shifted = np.zeros_like(c)
        shifted[r + i :] = c[: c.size - (r + i)]
        c = c - shifted
        for j in range(i, c.size):  # divide by (1 - q^i): c[j] += c[j - i]
            c[j] += c[j - i]
    c = np.maximum(c, 0.0)
    c /= c.sum()
    return np.cumsum(c[::-1])[::-1]


def _scores(values: Any, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise DataError(f"{what} must be a non-empty 1-d array of scores, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{what} has NaN or inf scores")
    return a


def owner_test(
    owner_scores: Any,
    reference_scores: Any,
    *,
    test: str = "mann_whitney",
    alpha: float = 0.05,
    seed: int = 0,
) -> OwnerTest:
    """Test H0 "none of the owner's records was used" from attack scores (higher = member)
    of the owner's records and of reference non-members (see the module docstring)."""
    if test not in TESTS:
        raise ConfigError(f"unknown owner test {test!r}; choose one of {', '.join(TESTS)}")
    alpha = float(check_number(alpha, "alpha", low=0, high=1, closed="neither"))
    owner = _scores(owner_scores, "owner scores")
    ref = _scores(reference_scores, "reference non-member scores")
    m, r = owner.size, ref.size
    asymptotic = stats.mannwhitneyu(owner, ref, alternative="greater", method="asymptotic")
    u = asymptotic.statistic
    auc = float(u) / (m * r)
    if test == "welch":
        if m < 2 or r < 2:
            raise DataError(
                f"the Welch t-test needs at least 2 owner and 2 reference records "
                f"(got {m} and {r}); use the rank test (mann_whitney)"
            )
        res = stats.ttest_ind(owner, ref, equal_var=False, alternative="greater")
        pooled = math.sqrt((owner.var(ddof=1) + ref.var(ddof=1)) / 2)
        d = float((owner.mean() - ref.mean()) / pooled) if pooled > 0 else 0.0
        p = float(res.pvalue) if np.isfinite(res.pvalue) else 1.0
        return OwnerTest(
            test, alpha, p, p <= alpha, float(res.statistic), auc, m, r, "t", ASSUMPTIONS[test], d
        )
    if min_p_value(m, r) > alpha:
        need = next(k for k in range(1, 10**7) if min_p_value(m, k) <= alpha)
        raise DataError(
            f"with {m} owner record(s) the rank test needs at least {need} reference "
            f"non-members to reach alpha = {alpha:g} (it has {r}: its smallest p-value is "
            f"{min_p_value(m, r):.3g})"
        )
    ties = np.unique(np.concatenate([owner, ref])).size < m + r
    if m == 1:
        # under H0 the owner's score is a uniformly random one of the r + 1 scores: exactly
        # P(U >= u) = (1 + #{reference >= x}) / (r + 1), ties included
        p = (1 + int(np.count_nonzero(ref >= owner[0]))) / (r + 1)
        return OwnerTest(
            test, alpha, p, p <= alpha, float(u), auc, m, r, "exact", ASSUMPTIONS[test]
        )
    if min(m, r) >= 8:
        method, res = "asymptotic", asymptotic
    elif not ties:
        method = "exact"
        tail = _u_tail(m, r)
        p = float(min(1.0, tail[int(round(u))]))
        return OwnerTest(test, alpha, p, p <= alpha, float(u), auc, m, r, method, ASSUMPTIONS[test])
    else:
        method = "permutation"
        perm = stats.PermutationMethod(
            n_resamples=PERMUTATIONS, rng=np.random.default_rng([int(seed), 0x0E4])
        )
        res = stats.mannwhitneyu(owner, ref, alternative="greater", method=perm)
    p = float(min(1.0, res.pvalue))
    return OwnerTest(
        test, alpha, p, p <= alpha, float(res.statistic), auc, m, r, method, ASSUMPTIONS[test]
    )


def rejection_rate(
    owner_pool: np.ndarray,
    reference_pool: np.ndarray | None,
    *,
    n_owner: int,
    n_reference: int,
    n_owners: int = 200,
    test: str = "mann_whitney",
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """How often the test rejects for simulated owners: each draws ``n_owner`` scores from
    ``owner_pool`` and ``n_reference`` reference scores from ``reference_pool`` (from
    ``owner_pool`` too, disjoint from the owner's, when None: the null case). Returns the
    rejection fraction with its 95% Clopper-Pearson interval: under H0 (owners never used)
    it must be at most alpha within the interval; for used owners it is the test's power."""
    rng = np.random.default_rng([int(seed), 0x0B5])
    owner_pool = np.asarray(owner_pool, dtype=np.float64)
    rejected = 0
    for _ in range(int(n_owners)):
        if reference_pool is None:
            idx = rng.choice(owner_pool.size, n_owner + n_reference, replace=False)
            own, ref = owner_pool[idx[:n_owner]], owner_pool[idx[n_owner:]]
        else:
            own = owner_pool[rng.choice(owner_pool.size, n_owner, replace=False)]
            ref = np.asarray(reference_pool)[
                rng.choice(len(reference_pool), n_reference, replace=False)
            ]
        rejected += owner_test(
            own, ref, test=test, alpha=alpha, seed=int(rng.integers(2**31))
        ).reject
    lo, hi = stats.binomtest(rejected, n_owners).proportion_ci(0.95, method="exact")
    return {
        "n_owner": int(n_owner),
        "n_reference": int(n_reference),
        "owners": int(n_owners),
        "rejected": int(rejected),
        "rate": rejected / n_owners,
        "ci": (float(lo), float(hi)),
        "test": test,
        "alpha": alpha,
    }
