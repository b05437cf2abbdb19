"""Per-record p-values for membership in a released mean vector.

The question of one person: "was I in the cohort behind this released mean vector?". For
each tested record the null hypothesis is H0: *this record was not in the cohort*.

``method="empirical"`` (the default). The attack's statistic of the record is compared with
the same statistic of ``null_records``, reference-population records known not to be in the
cohort and **not** used to fit the attack (the reference frequencies pop_j, or the Pyrgelis
classifier's training cohorts)::

    p = (1 + #{null statistics >= observed}) / (1 + n_null)

This is a Monte-Carlo / conformal p-value (Davison & Hinkley 1997, eq. 4.11; Vovk et al.
2005): under H0, if the tested record and the null records are exchangeable (drawn the same
way from the same population, none of them in the cohort), then, given the release and the
fitted attack, their statistics are exchangeable, so P(p <= alpha) <= alpha for every alpha,
whatever the statistic's distribution, the feature correlations (SNPs in linkage,
co-visited locations) or the DP noise. Ties count against the record (conservative). The
null records must be disjoint from the records the attack was fitted on: a record that
helped estimate pop_j is closer to pop than a fresh one, its Homer or likelihood-ratio
statistic is lower, and the null would be too easy to beat (anti-conservative).

The smallest p-value reachable is 1 / (1 + n_null): with 19 null records alpha = 0.05 can
just be reached; use hundreds. This is why it is the default: it assumes only
exchangeability, and applies to every attack (Homer, Sankararaman's likelihood ratio, whose
paper also calibrates its threshold on reference individuals, and Pyrgelis' classifier).

``method="homer_t"``: Homer et al. 2008's own test (Methods): the one-sample t-test of the
per-feature distances D_j over the s features that are not withheld, T = mean(D) / (sd(D) /
sqrt(s)), with p = P(t_{s-1} >= T), one-sided. It needs no null records, but it assumes the
D_j are independent across features with mean <= 0 under H0 (no linkage between SNPs, no
correlated features) and a near-normal mean. Correlated features (real SNP panels, the
Location check-ins) make it anti-conservative; :func:`aggregate_test` still computes the T
of the null records so the report can show how far they are from a t distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from miaudit.aggregate._base import AggregateAttack
from miaudit.aggregate.homer import HomerAttack
from miaudit.errors import ConfigError, DataError
from miaudit.owner._empirical import empirical_p_values
from miaudit.validation import check_number

Method = Literal["empirical", "homer_t"]
METHODS = ("empirical", "homer_t")

ASSUMPTIONS = {
    "empirical": (
        "The p-value compares the record's statistic with the same statistic of {n_null} "
        "reference records known not to be in the cohort (and not used to fit the attack): "
        "p = (1 + how many of them score at least as high) / (1 + {n_null}). It assumes only "
        "that, if the record was not in the cohort, it is like those reference records: "
        "drawn from the same population in the same way (exchangeable). It assumes nothing "
        "about the shape of the statistic, the number of features or their correlation. The "
        "smallest p-value it can give is 1 / (1 + {n_null}) = {p_min:.2g}."
    ),
    "homer_t": (
        "Homer et al. 2008's one-sample t-test of the per-feature distances D_j over the "
        "{n_features} released features: p = P(t with {df} degrees of freedom >= T). It "
        "assumes the features are independent of each other (no linkage between SNPs, no "
        "correlated locations) and that, for a record not in the cohort, each D_j has mean "
        "zero or below. When features are correlated the p-values are too small."
    ),
}


@dataclass(frozen=True)
class AggregateTest:
    """Per-record tests of H0 "this record was not in the cohort" (see the module docstring).

    ``statistics`` (k,) the attack's statistic of each tested record (higher = more like a
    member); ``p_values`` (k,); ``reject`` (k,) p <= alpha ("found in the cohort");
    ``null_statistics`` (n_null,) the statistic of the null records; ``method``; ``alpha``;
    ``n_features`` the features the release shows (not withheld); ``assumptions`` in words.
    """

    statistics: np.ndarray
    p_values: np.ndarray
    reject: np.ndarray
    null_statistics: np.ndarray
    method: str
    alpha: float
    n_features: int
    assumptions: str

    def sentence(self, i: int, label: object | None = None) -> str:
        """One record's answer in words."""
        name = f"record {label}" if label is not None else f"record {i}"
        p = float(self.p_values[i])
        if self.reject[i]:
            return (
                f"Yes: {name} was found in the cohort (p = {p:.3g} <= alpha {self.alpha:g}): "
                f"a record outside the cohort would score this high with probability {p:.3g}."
            )
        return (
            f"No evidence: {name} is not found in the cohort (p = {p:.3g} > alpha "
            f"{self.alpha:g}); this is not proof that it was left out."
        )

    def answer(self) -> str:
        """How many tested records are found in the cohort, in one sentence."""
        k, found = int(self.reject.size), int(self.reject.sum())
        return (
            f"{found} of {k} tested record{'s' if k != 1 else ''} "
            f"{'is' if found == 1 else 'are'} found in the cohort at alpha = {self.alpha:g} "
            f"(p <= {self.alpha:g}); by chance alone about {self.alpha * k:.2g} of {k} records "
            "that were not in the cohort would be."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "alpha": self.alpha,
            "n_tested": int(self.reject.size),
            "n_found": int(self.reject.sum()),
            "n_null": int(self.null_statistics.size),
            "n_features": self.n_features,
            "assumptions": self.assumptions,
            "statistics": self.statistics.tolist(),
            "p_values": self.p_values.tolist(),
            "reject": self.reject.tolist(),
            "null_statistics": self.null_statistics.tolist(),
        }


def check_method(method: object, attack: AggregateAttack | None = None) -> str:
    """``method`` when valid for ``attack``: one-line ConfigError otherwise."""
    if method not in METHODS:
        raise ConfigError(f"p-value method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "homer_t" and attack is not None:
        if not isinstance(attack, HomerAttack) or attack.statistic != "t":
            raise ConfigError(
                "method 'homer_t' is Homer's t-test: it needs HomerAttack(statistic='t')"
            )
    return str(method)


def aggregate_test(
    attack: AggregateAttack,
    records: ArrayLike,
    mixture_means: ArrayLike,
    null_records: ArrayLike,
    *,
    withheld: ArrayLike | None = None,
    alpha: float = 0.05,
    method: Method = "empirical",
) -> AggregateTest:
    """Test each of ``records`` against one released mean vector ``mixture_means`` (d,).

    ``attack`` is fitted on reference records **disjoint from** ``null_records`` (both from
    the population, neither in the cohort). ``method`` "empirical" (default) or "homer_t"
    (``attack`` must be ``HomerAttack(statistic="t")``). See the module docstring.
    """
    a = float(check_number(alpha, "alpha", low=0, high=1, closed="neither"))
    check_method(method, attack)
    mix = np.asarray(mixture_means)
    if mix.ndim != 1:
        raise DataError(f"mixture_means must be one released vector, shape (d,), got {mix.shape}")
    observed = attack.score_samples(records, mix, withheld)
    null = attack.score_samples(null_records, mix, withheld)
    d = mix.shape[0]
    s = d if withheld is None else int(d - np.count_nonzero(np.asarray(withheld)))
    if method == "empirical":
        p = empirical_p_values(observed, null)
        text = ASSUMPTIONS["empirical"].format(n_null=null.size, p_min=1 / (1 + null.size))
    else:
        if s < 2:
            raise DataError("Homer's t-test needs at least 2 released (not withheld) features")
        p = stats.t.sf(observed, df=s - 1)
        text = ASSUMPTIONS["homer_t"].format(n_features=s, df=s - 1)
    return AggregateTest(
        statistics=np.asarray(observed, dtype=np.float64),
        p_values=np.asarray(p, dtype=np.float64),
        reject=np.asarray(p <= a),
        null_statistics=np.asarray(null, dtype=np.float64),
        method=str(method),
        alpha=a,
        n_features=s,
        assumptions=text,
    )
