"""Per-record p-values of membership in a released mean vector (miaudit.aggregate.pvalues):
the empirical p-value against a slow count, its validity (the rejection rate of records never
in the cohort is at most alpha within its Clopper-Pearson interval, for every attack, with
and without DP noise), a check that this measurement can fail (null records that helped fit
the attack), Homer's t-test, and power on a small cohort."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from miaudit.aggregate import (
    HomerAttack,
    PyrgelisAttack,
    ReleaseMechanism,
    SankararamanAttack,
    aggregate_test,
    empirical_p_values,
    genotype_panel,
    release_means,
)
from miaudit.errors import ConfigError, DataError

ALPHA = 0.05


def test_empirical_p_values_match_a_slow_count():
    rng = np.random.default_rng(0)
    null = rng.integers(0, 5, size=40).astype(float)  # many ties
    obs = np.array([-1.0, 0.0, 2.0, 4.0, 9.0])
    slow = [(1 + sum(v >= o for v in null)) / (1 + len(null)) for o in obs]
    np.testing.assert_allclose(empirical_p_values(obs, null), slow)
    assert empirical_p_values([9.0], null)[0] == pytest.approx(1 / 41)


@pytest.fixture(scope="module")
def panel():
    x, _ = genotype_panel(3000, 150, seed=1)
    return x


def _rejections(attack, x, fit, mechanism, *, n_reps, cohort=40, n_null=99, null_from=None):
    """One test record per repetition (fresh cohort, release, null set and record, all drawn
    from the records outside ``fit``): independent Bernoulli trials under H0."""
    rest = np.setdiff1d(np.arange(x.shape[0]), fit)
    rng = np.random.default_rng(7)
    rejected = 0
    for _ in range(n_reps):
        perm = rng.permutation(rest)
        members, tested = perm[:cohort], perm[cohort : cohort + 1]
        null = perm[cohort + 1 : cohort + 1 + n_null] if null_from is None else null_from
        rel = release_means(
            x[members],
            noise=mechanism.noise,
            epsilon=mechanism.epsilon,
            delta=mechanism.delta,
            seed=rng,
        )
        t = aggregate_test(attack, x[tested], rel.means, x[null], alpha=ALPHA)
        rejected += int(t.reject[0])
    return rejected


def _cp_interval(k, n):
    return stats.binomtest(k, n).proportion_ci(0.95, method="exact")


@pytest.mark.parametrize(
    ("name", "mechanism"),
    [
        ("homer", ReleaseMechanism()),
        ("sankararaman", ReleaseMechanism()),
        ("sankararaman", ReleaseMechanism("laplace", 50.0)),
        ("pyrgelis", ReleaseMechanism()),
    ],
)
def test_records_never_in_the_cohort_are_rejected_at_most_alpha(panel, name, mechanism):
    fit = np.arange(300)  # the attack's reference records; null records come from the rest
    attack = {
        "homer": HomerAttack(),
        "sankararaman": SankararamanAttack(),
        "pyrgelis": PyrgelisAttack(cohort_size=40, mechanism=mechanism, n_cohorts=60),
    }[name].fit(panel[fit])
    n = 600
    k = _rejections(attack, panel, fit, mechanism, n_reps=n)
    lo, hi = _cp_interval(k, n)
    # valid: the rate is <= alpha within its 95% interval (exactly alpha for 99 null
    # records and a continuous statistic: 5 of 100 ranks)
    assert lo <= ALPHA, (name, k, n, lo, hi)


def test_the_validity_check_can_fail_when_null_records_fitted_the_attack(panel):
    """Null records that helped estimate the reference frequencies are closer to them than a
    fresh record, score lower, and make the p-values too small: the measurement sees it."""
    fit = np.arange(99)
    attack = HomerAttack().fit(panel[fit])
    n = 300
    k = _rejections(attack, panel, fit, ReleaseMechanism(), n_reps=n, null_from=fit)
    lo, _ = _cp_interval(k, n)
    assert lo > ALPHA, k


def test_homer_t_test_on_independent_snps(panel):
    """Homer's own t-test, on SNPs drawn independently (its assumption holds): valid too."""
    fit = np.arange(300)
    attack = HomerAttack(statistic="t").fit(panel[fit])
    rng = np.random.default_rng(3)
    rest = np.arange(300, panel.shape[0])
    rejected, n = 0, 300
    for _ in range(n):
        perm = rng.permutation(rest)
        rel = release_means(panel[perm[:40]])
        t = aggregate_test(
            attack, panel[perm[40:41]], rel.means, panel[perm[41:60]], method="homer_t"
        )
        rejected += int(t.reject[0])
    lo, _ = _cp_interval(rejected, n)
    assert lo <= ALPHA, rejected


def test_members_of_a_small_cohort_get_small_p_values(panel):
    fit, null = np.arange(300), np.arange(300, 800)
    members = np.arange(1000, 1010)
    outsiders = np.arange(2000, 2010)
    rel = release_means(panel[members])
    attack = SankararamanAttack().fit(panel[fit])
    t = aggregate_test(attack, panel[np.r_[members, outsiders]], rel.means, panel[null])
    # 10 members over 150 SNPs: most score above all 500 null records, all are found
    assert t.reject[:10].all() and np.median(t.p_values[:10]) <= 1 / 501 + 1e-12
    assert t.reject[10:].sum() <= 2
    assert t.answer().startswith(f"{int(t.reject.sum())} of 20 tested records")
    assert t.sentence(0, 1000).startswith("Yes: record 1000")
    assert "No evidence" in t.sentence(int(np.argmax(t.p_values)))


def test_bad_inputs_are_one_line(panel):
    attack = HomerAttack().fit(panel[:50])
    rel = release_means(panel[50:60]).means
    with pytest.raises(ConfigError, match="alpha"):
        aggregate_test(attack, panel[:2], rel, panel[60:80], alpha=1.5)
    with pytest.raises(ConfigError, match="method"):
        aggregate_test(attack, panel[:2], rel, panel[60:80], method="z")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="HomerAttack"):
        aggregate_test(attack, panel[:2], rel, panel[60:80], method="homer_t")
    with pytest.raises(DataError, match="features"):
        aggregate_test(attack, panel[:2], rel[:-1], panel[60:80])
    with pytest.raises(DataError, match="empty"):
        empirical_p_values([1.0], [])
