"""Tests of miaudit.metrics: agreement with scikit-learn, hand-computed cases, slow reference
loops (compared by hypothesis), the epsilon bound, and the bootstrap fast paths."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from miaudit.errors import ConfigError, DataError
from miaudit.metrics import (
    AttackMetrics,
    advantage,
    auc,
    balanced_accuracy,
    bootstrap_ci,
    epsilon_lower_bound,
    epsilon_lower_bound_heldout,
    evaluate_scores,
    precision_recall_at,
    roc_curve,
    tpr_at_fpr,
)
from miaudit.metrics._bootstrap import (
    auc_rows,
    bootstrap_values,
    bootstrap_values_loop,
    resample_indices,
    score_codes,
    tpr_at_fpr_rows,
)
from miaudit.metrics._epsilon import epsilon_from_counts

# ---------------------------------------------------------------- slow, obvious references


def slow_roc_points(y: np.ndarray, s: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, fpr, tpr) for +inf and every distinct score, by direct counting."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    points = []
    for t in [np.inf, *sorted(set(s.tolist()), reverse=True)]:
        called = s >= t
        tp = sum(1 for c, m in zip(called, y, strict=True) if c and m)
        fp = sum(1 for c, m in zip(called, y, strict=True) if c and not m)
        points.append((t, fp / n_neg, tp / n_pos))
    return points


def slow_tpr_at_fpr(y: np.ndarray, s: np.ndarray, level: float) -> float:
    return max(tpr for _, fpr, tpr in slow_roc_points(y, s) if fpr <= level)


def slow_balanced_accuracy(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    best, best_t = -1.0, None
    for t, fpr, tpr in slow_roc_points(y, s):
        if np.isfinite(t) and tpr - fpr > best:
            best, best_t = tpr - fpr, t
    return 0.5 * (1.0 + best), float(best_t)


def random_case(seed: int, n: int = 400, shift: float = 0.7, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    y[:2] = [True, False]
    s = rng.normal(size=n) + shift * y
    if decimals is not None:
        s = np.round(s, decimals)
    return y, s


# Small inputs with many ties: scores from a handful of values, both classes present.
small_cases = st.integers(2, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < len(v)),
        st.lists(st.sampled_from([-1.5, 0.0, 0.25, 1.0, 2.0, 7.0]), min_size=n, max_size=n),
    )
)

# ---------------------------------------------------------------- agreement with sklearn


@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_and_auc_agree_with_sklearn(seed: int, decimals: int | None) -> None:
    y, s = random_case(seed, decimals=decimals)
    fpr, tpr, thr = roc_curve(y, s)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_array_equal(fpr, sk_fpr)
    np.testing.assert_array_equal(tpr, sk_tpr)
    np.testing.assert_array_equal(thr, sk_thr)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert thr.size == np.unique(s).size + 1  # every distinct threshold, nothing dropped
    assert auc(y, s) == roc_auc_score(y, s)
    assert auc(y.astype(int), s) == auc(y, s)


def test_roc_curve_is_exact_on_small_case() -> None:
    y = [1, 0, 1, 0]
    s = [0.9, 0.9, 0.5, 0.1]
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_array_equal(fpr, [0, 0.5, 0.5, 1])
    np.testing.assert_array_equal(tpr, [0, 0.5, 1, 1])
    np.testing.assert_array_equal(thr, [np.inf, 0.9, 0.5, 0.1])
    assert auc(y, s) == pytest.approx(0.75 - 0.125)  # tie counts one half


# ---------------------------------------------------------------- tpr_at_fpr by hand

# members 5, 3, 3; non-members 4, 3, 3 and seven at 1. ROC points (fp, tp):
# inf (0,0); 5 (0,1); 4 (1,1); 3 (3,3); 1 (10,3). The tie at 3 straddles FPR 0.1 and 0.2.
STRADDLE_Y = np.array([1, 1, 1] + [0] * 10)
STRADDLE_S = np.array([5, 3, 3, 4, 3, 3] + [1] * 7, dtype=float)


@pytest.mark.parametrize(
    ("level", "expected"),
    [(0.0, 1 / 3), (0.1, 1 / 3), (0.2, 1 / 3), (0.29, 1 / 3), (0.3, 1.0), (1.0, 1.0)],
)
def test_tpr_at_fpr_ties_straddling_the_level(level: float, expected: float) -> None:
    assert tpr_at_fpr(STRADDLE_Y, STRADDLE_S, level) == pytest.approx(expected)


def test_tpr_at_fpr_level_zero_with_non_member_on_top() -> None:
    assert tpr_at_fpr([0, 1, 1, 0], [9.0, 5.0, 4.0, 1.0], 0.0) == 0.0
    assert tpr_at_fpr([0, 1, 1, 0], [9.0, 5.0, 4.0, 1.0], 0.5) == 1.0


def test_tpr_at_fpr_special_cases() -> None:
    y = np.array([1] * 5 + [0] * 5)
    equal = np.zeros(10)
    assert tpr_at_fpr(y, equal, 0.0) == 0.0
    assert tpr_at_fpr(y, equal, 0.99) == 0.0
    assert tpr_at_fpr(y, equal, 1.0) == 1.0
    perfect = y.astype(float)
    assert tpr_at_fpr(y, perfect, 0.0) == 1.0
    inverted = -perfect
    assert tpr_at_fpr(y, inverted, 0.0) == 0.0
    assert tpr_at_fpr(y, inverted, 0.8) == 0.0
    assert tpr_at_fpr(y, inverted, 1.0) == 1.0
    assert advantage(y, perfect) == 1.0
    assert advantage(y, inverted) == 0.0
    assert advantage(y, equal) == 0.0
    assert balanced_accuracy(y, perfect) == (1.0, 1.0)
    assert balanced_accuracy(y, inverted) == (0.5, -1.0)  # everyone a member: as good as any
    assert balanced_accuracy(y, equal) == (0.5, 0.0)


# ---------------------------------------------------------------- against the slow loops


@settings(max_examples=150, deadline=None)
@given(case=small_cases, level=st.sampled_from([0.0, 0.05, 0.1, 0.25, 1 / 3, 0.5, 0.9, 1.0]))
def test_threshold_metrics_match_slow_loops(case, level: float) -> None:
    y = np.array(case[0])
    s = np.array(case[1])
    assert tpr_at_fpr(y, s, level) == slow_tpr_at_fpr(y, s, level)
    ba, t = balanced_accuracy(y, s)
    slow_ba, slow_t = slow_balanced_accuracy(y, s)
    assert ba == pytest.approx(slow_ba, abs=1e-12)
    assert t == slow_t
    adv = advantage(y, s)
    assert ba == 0.5 * (1.0 + adv)
    # the vectorised bootstrap kernels on a single "resample" (the data itself)
    codes, n_codes = score_codes(s)
    pos, neg = codes[y][None, :], codes[~y][None, :]
    assert tpr_at_fpr_rows(pos, neg, n_codes, level)[0] == tpr_at_fpr(y, s, level)
    assert tpr_at_fpr_rows(s[y][None, :], s[~y][None, :], 0, level)[0] == tpr_at_fpr(y, s, level)
    assert auc_rows(pos, neg, n_codes)[0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # only ROC corners can attain the epsilon bound: pruning changes nothing
    fpr, tpr, _ = roc_curve(y, s)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    tp, fp = np.rint(tpr * n_pos), np.rint(fpr * n_neg)
    for delta in (0.0, 0.05):
        full = epsilon_from_counts(tp, fp, n_pos, n_neg, delta, 0.05)
        assert epsilon_lower_bound(y, s, delta=delta) == full


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_balanced_accuracy_is_half_one_plus_advantage(seed: int) -> None:
    y, s = random_case(seed, decimals=1)
    ba, t = balanced_accuracy(y, s)
    assert ba == 0.5 * (1.0 + advantage(y, s))
    assert (ba, t) == pytest.approx(slow_balanced_accuracy(y, s))
    tpr, fpr = np.mean(s[y] >= t), np.mean(s[~y] >= t)
    assert ba == pytest.approx(0.5 * (tpr + 1.0 - fpr))


# ---------------------------------------------------------------- precision / recall


def test_precision_recall_at() -> None:
    y = [1, 1, 0, 1, 0, 0]
    s = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]
    assert precision_recall_at(y, s, 0.7) == pytest.approx((2 / 3, 2 / 3))
    assert precision_recall_at(y, s, 0.8) == (1.0, 2 / 3)  # member iff score >= threshold
    assert precision_recall_at(y, s, 0.0) == (0.5, 1.0)
    assert precision_recall_at(y, s, 5.0) == (0.0, 0.0)  # nobody called a member: 0/0 -> 0
    with pytest.raises(ConfigError, match="NaN"):
        precision_recall_at(y, s, float("nan"))


# ---------------------------------------------------------------- epsilon lower bound


def test_epsilon_perfect_separation_matches_clopper_pearson_by_hand() -> None:
    y = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    s = y.astype(float)
    tpr_low = beta.ppf(0.025, 1000, 1)
    fpr_high = beta.ppf(0.975, 1, 1000)
    expected = np.log(tpr_low / fpr_high)
    assert epsilon_lower_bound(y, s) == pytest.approx(expected, rel=1e-12)
    q = 0.025 ** (1 / 1000)  # closed form of both quantiles
    assert epsilon_lower_bound(y, s) == pytest.approx(np.log(q / (1 - q)), rel=1e-9)
    assert 5.5 < expected < 5.7


def test_epsilon_symmetric_form_by_hand() -> None:
    # Every member scores 1; half the non-members score 0. Calling "member" at score >= 1 has
    # no false negative but 50% false positives: only the symmetric form (TNR vs FNR) is large.
    y = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    s = np.r_[np.ones(100), np.ones(50), np.zeros(50)]
    tnr_low = beta.ppf(0.025, 50, 51)
    fnr_high = beta.ppf(0.975, 1, 100)  # = 1 - TPR_low with TP = 100
    expected = np.log(tnr_low / fnr_high)
    assert epsilon_lower_bound(y, s) == pytest.approx(expected, rel=1e-12)
    assert epsilon_lower_bound(~y, -s) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epsilon_is_symmetric_under_swapping_members(seed: int) -> None:
    y, s = random_case(seed, shift=1.5, decimals=1)
    assert epsilon_lower_bound(y, s) == pytest.approx(epsilon_lower_bound(~y, -s), rel=1e-12)


def test_epsilon_near_zero_for_random_scores() -> None:
    y = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    eps = [epsilon_lower_bound(y, np.random.default_rng(i).normal(size=2000)) for i in range(8)]
    assert np.median(eps) == 0.0
    assert max(eps) < 1.0  # the max over thresholds is optimistic per threshold, not jointly


def test_epsilon_grows_with_n_and_shrinks_with_delta_and_alpha() -> None:
    def perfect(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.r_[np.ones(n, bool), np.zeros(n, bool)]
        return y, y.astype(float)

    values = [epsilon_lower_bound(*perfect(n)) for n in (10, 100, 1000, 10000)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    y, s = perfect(1000)
    assert epsilon_lower_bound(y, s, delta=1e-5) < epsilon_lower_bound(y, s)
    assert epsilon_lower_bound(y, s, alpha=0.01) < epsilon_lower_bound(y, s, alpha=0.05)
    assert epsilon_lower_bound(y, s, delta=0.999) == 0.0  # TPR_low - delta <= 0 everywhere
    assert epsilon_lower_bound(y, np.zeros(2000)) == 0.0
    assert epsilon_lower_bound(y, -s) == 0.0


@pytest.mark.parametrize(("kw", "match"), [({"delta": 1.0}, "delta"), ({"alpha": 0.0}, "alpha")])
def test_epsilon_rejects_bad_parameters(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        epsilon_lower_bound([1, 0], [1.0, 0.0], **kw)


# ---------------------------------------------------------------- bootstrap


STATISTICS = {
    "auc": auc,
    "tpr@0": functools.partial(tpr_at_fpr, fpr_level=0.0),
    "tpr@0.01": functools.partial(tpr_at_fpr, fpr_level=0.01),
    "tpr@0.1": functools.partial(tpr_at_fpr, fpr_level=0.1),
    "tpr@1": functools.partial(tpr_at_fpr, fpr_level=1.0),
}


@pytest.mark.parametrize("decimals", [None, 1])
@pytest.mark.parametrize("name", list(STATISTICS))
def test_fast_bootstrap_equals_slow_loop(name: str, decimals: int | None) -> None:
    y, s = random_case(3, n=300, decimals=decimals)
    pos_idx, neg_idx = resample_indices(y, 40, np.random.default_rng(5))
    fast = bootstrap_values(y, s, STATISTICS[name], pos_idx, neg_idx)
    slow = bootstrap_values_loop(y, s, STATISTICS[name], pos_idx, neg_idx)
    if name == "auc":  # rank identity vs sklearn's trapezoids: equal up to rounding
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-13)
    else:  # same counts, same division: bit for bit
        np.testing.assert_array_equal(fast, slow)


def test_resamples_are_stratified() -> None:
    y, _ = random_case(0, n=50)
    pos_idx, neg_idx = resample_indices(y, 30, np.random.default_rng(0))
    assert pos_idx.shape == (30, y.sum()) and neg_idx.shape == (30, (~y).sum())
    assert y[pos_idx].all() and not y[neg_idx].any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_ci_contains_estimate_and_is_deterministic(seed: int) -> None:
    y, s = random_case(seed, n=600)
    for statistic in STATISTICS.values():
        lo, hi = bootstrap_ci(y, s, statistic, seed=seed)
        assert lo <= statistic(y, s) <= hi
        assert (lo, hi) == bootstrap_ci(y, s, statistic, seed=seed)
    assert bootstrap_ci(y, s, auc, seed=seed) != bootstrap_ci(y, s, auc, seed=seed + 10)
    lo90, hi90 = bootstrap_ci(y, s, auc, seed=seed, level=0.9)
    lo95, hi95 = bootstrap_ci(y, s, auc, seed=seed)
    assert lo95 <= lo90 < hi90 <= hi95


def test_bootstrap_generic_statistic_runs_the_loop() -> None:
    y, s = random_case(0, n=200)
    lo, hi = bootstrap_ci(y, s, advantage, n_resamples=50)
    assert 0.0 <= lo <= advantage(y, s) <= hi <= 1.0
    # a lambda wrapping auc takes the slow path and agrees with the fast one
    slow = bootstrap_ci(y, s, lambda a, b: auc(a, b), n_resamples=50)
    np.testing.assert_allclose(slow, bootstrap_ci(y, s, auc, n_resamples=50), atol=1e-13)


@pytest.mark.parametrize(
    "kw", [{"n_resamples": 0}, {"n_resamples": 2.5}, {"level": 1.0}, {"level": 0.0}]
)
def test_bootstrap_rejects_bad_parameters(kw: dict) -> None:
    with pytest.raises(ConfigError):
        bootstrap_ci([1, 0], [1.0, 0.0], auc, **kw)


# ---------------------------------------------------------------- evaluate_scores

KEYS = {
    "auc",
    "auc_ci",
    "tpr_at_fpr",
    "tpr_at_fpr_ci",
    "balanced_accuracy",
    "advantage",
    "epsilon_lower_bound",
    "epsilon_lower_bound_heldout",
    "threshold",
    "precision",
    "recall",
    "n_members",
    "n_nonmembers",
}


def test_evaluate_scores_agrees_with_the_functions() -> None:
    y, s = random_case(4, n=500, decimals=2)
    m = evaluate_scores(y, s, n_resamples=100, seed=3)
    assert isinstance(m, AttackMetrics)
    assert m.auc == auc(y, s)
    assert m.auc_ci == bootstrap_ci(y, s, auc, n_resamples=100, seed=3)
    assert set(m.tpr_at_fpr) == {"0.001", "0.01", "0.1"} == set(m.tpr_at_fpr_ci)
    for key in m.tpr_at_fpr:
        statistic = functools.partial(tpr_at_fpr, fpr_level=float(key))
        assert m.tpr_at_fpr[key] == statistic(y, s)
        assert m.tpr_at_fpr_ci[key] == bootstrap_ci(y, s, statistic, n_resamples=100, seed=3)
    assert (m.balanced_accuracy, m.threshold) == balanced_accuracy(y, s)
    assert m.advantage == advantage(y, s)
    assert m.epsilon_lower_bound == epsilon_lower_bound(y, s)
    assert m.epsilon_lower_bound_heldout == epsilon_lower_bound_heldout(y, s, seed=3)
    assert (m.precision, m.recall) == precision_recall_at(y, s, m.threshold)
    assert (m.n_members, m.n_nonmembers) == (int(y.sum()), int((~y).sum()))

    d = m.to_dict()
    assert set(d) == KEYS
    assert json.loads(json.dumps(d)) == d
    assert isinstance(d["auc_ci"], list) and isinstance(d["tpr_at_fpr_ci"]["0.01"], list)


def test_evaluate_scores_with_threshold_and_levels() -> None:
    y, s = random_case(5, n=300)
    m = evaluate_scores(y, s, threshold=0.5, levels=(0.05,), n_resamples=20)
    assert m.threshold == 0.5
    assert (m.precision, m.recall) == precision_recall_at(y, s, 0.5)
    assert list(m.tpr_at_fpr) == ["0.05"]
    with pytest.raises(ConfigError, match="fpr_level"):
        evaluate_scores(y, s, levels=(1.5,))


# ---------------------------------------------------------------- validation

ALL_FUNCTIONS = [
    roc_curve,
    auc,
    functools.partial(tpr_at_fpr, fpr_level=0.1),
    balanced_accuracy,
    advantage,
    functools.partial(precision_recall_at, threshold=0.5),
    epsilon_lower_bound,
    epsilon_lower_bound_heldout,
    functools.partial(bootstrap_ci, statistic=auc, n_resamples=5),
    functools.partial(evaluate_scores, n_resamples=5),
]


@pytest.mark.parametrize("fn", ALL_FUNCTIONS)
@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([1, 0, 1], [0.1, 0.2], "mismatched lengths"),
        ([], [], "empty input"),
        ([1, 0, 2], [0.1, 0.2, 0.3], "binary"),
        (["a", "b"], [0.1, 0.2], "binary"),
        ([1, 0, 1], [0.1, np.nan, 0.3], "non-finite"),
        ([1, 0, 1], [0.1, np.inf, 0.3], "non-finite"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "empty non-member set"),
        ([False, False], [0.1, 0.2], "empty member set"),
        ([[1, 0]], [[0.1, 0.2]], "1-D"),
        ([1, 0], ["x", "y"], "numeric"),
    ],
)
def test_validation_errors(fn, y, s, match: str) -> None:
    with pytest.raises(DataError, match=match):
        fn(y, s)


@pytest.mark.parametrize("level", [-0.1, 1.1, float("nan")])
def test_tpr_at_fpr_rejects_bad_level(level: float) -> None:
    with pytest.raises(ConfigError, match="fpr_level"):
        tpr_at_fpr([1, 0], [1.0, 0.0], level)
    with pytest.raises(ConfigError, match="fpr_level"):
        bootstrap_ci([1, 0], [1.0, 0.0], functools.partial(tpr_at_fpr, fpr_level=level))


def test_inputs_are_not_mutated_and_float_labels_accepted() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0])
    s = np.array([0.3, 0.1, 0.2, 0.4])
    y0, s0 = y.copy(), s.copy()
    evaluate_scores(y, s, n_resamples=5)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(s, s0)
    assert auc(y, s) == auc(y.astype(bool), s)
