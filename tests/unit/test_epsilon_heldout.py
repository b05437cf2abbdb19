"""Tests of the held-out epsilon lower bound: validity on scores without membership signal
(where the max-over-thresholds bound is optimistic), perfect separation, a slow reference
loop, determinism and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from miaudit.errors import ConfigError, DataError
from miaudit.metrics import epsilon_lower_bound, epsilon_lower_bound_heldout, evaluate_scores
from miaudit.metrics._epsilon import split_halves

# ---------------------------------------------------------------- slow, obvious reference


def slow_split(y: np.ndarray, seed: int) -> tuple[list[int], list[int]]:
    """Indices of halves A and B: members permuted, then non-members, by one seeded
    generator; the first n // 2 of each class go to A."""
    rng = np.random.default_rng(seed)
    half_a: list[int] = []
    half_b: list[int] = []
    for cls in (True, False):
        idx = rng.permutation([i for i in range(len(y)) if bool(y[i]) == cls]).tolist()
        half_a += idx[: len(idx) // 2]
        half_b += idx[len(idx) // 2 :]
    return half_a, half_b


def slow_forms(tp: int, fp: int, n_pos: int, n_neg: int, delta: float, alpha: float):
    """(direct, symmetric) bounds at one threshold by the textbook Clopper-Pearson formulas;
    None where a numerator is not positive."""
    tpr_low = beta.ppf(alpha / 2, tp, n_pos - tp + 1) if tp > 0 else 0.0
    fpr_high = beta.ppf(1 - alpha / 2, fp + 1, n_neg - fp) if fp < n_neg else 1.0
    tn, fn = n_neg - fp, n_pos - tp
    tnr_low = beta.ppf(alpha / 2, tn, n_neg - tn + 1) if tn > 0 else 0.0
    fnr_high = beta.ppf(1 - alpha / 2, fn + 1, n_pos - fn) if fn < n_pos else 1.0
    direct = np.log((tpr_low - delta) / fpr_high) if tpr_low - delta > 0 else None
    symmetric = np.log((tnr_low - delta) / fnr_high) if tnr_low - delta > 0 else None
    return direct, symmetric


def slow_counts(y: list[bool], s: list[float], t: float) -> tuple[int, int]:
    tp = sum(1 for m, v in zip(y, s, strict=True) if m and v >= t)
    fp = sum(1 for m, v in zip(y, s, strict=True) if not m and v >= t)
    return tp, fp


def slow_heldout(y: np.ndarray, s: np.ndarray, delta: float, alpha: float, seed: int) -> float:
    half_a, half_b = slow_split(y, seed)
    ya, sa = [bool(y[i]) for i in half_a], [float(s[i]) for i in half_a]
    yb, sb = [bool(y[i]) for i in half_b], [float(s[i]) for i in half_b]
    pos_a, neg_a = sum(ya), len(ya) - sum(ya)
    pos_b, neg_b = sum(yb), len(yb) - sum(yb)
    # every distinct threshold on A (member iff score >= t), largest first; the direct form
    # first, then the symmetric one; keep the first strict maximum
    best, choice = 0.0, None
    for form in (0, 1):
        for t in sorted(set(sa), reverse=True):
            value = slow_forms(*slow_counts(ya, sa, t), pos_a, neg_a, delta, alpha)[form]
            if value is not None and value > best:
                best, choice = value, (t, form)
    if choice is None:
        return 0.0
    t, form = choice
    value = slow_forms(*slow_counts(yb, sb, t), pos_b, neg_b, delta, alpha)[form]
    return 0.0 if value is None or value <= 0 else float(value)


def random_case(seed: int, n: int, shift: float, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.45
    y[:4] = [True, True, False, False]
    s = rng.normal(size=n) + shift * y
    if decimals is not None:
        s = np.round(s, decimals)
    return y, s


@pytest.mark.parametrize(
    ("case_seed", "n", "shift", "decimals", "delta", "alpha", "seed"),
    [
        (0, 300, 2.0, None, 0.0, 0.05, 0),
        (1, 301, 3.0, None, 0.0, 0.05, 7),
        (2, 400, 2.5, 1, 0.0, 0.05, 1),  # many ties
        (3, 250, 3.0, None, 0.01, 0.1, 2),
        (4, 300, 0.0, None, 0.0, 0.5, 3),  # no signal, loose alpha
        (5, 200, 4.0, 0, 0.0, 0.05, 4),  # heavy ties
    ],
)
def test_heldout_matches_slow_loop(case_seed, n, shift, decimals, delta, alpha, seed) -> None:
    y, s = random_case(case_seed, n, shift, decimals)
    expected = slow_heldout(y, s, delta, alpha, seed)
    got = epsilon_lower_bound_heldout(y, s, delta=delta, alpha=alpha, seed=seed)
    assert got == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_heldout_matches_slow_loop_when_the_symmetric_form_wins() -> None:
    # Members all score 1, a third of the non-members too: only the symmetric form is large.
    y = np.r_[np.ones(90, bool), np.zeros(90, bool)]
    s = np.r_[np.ones(90), np.ones(30), np.zeros(60)]
    expected = slow_heldout(y, s, 0.0, 0.05, 0)
    assert expected > 0
    assert epsilon_lower_bound_heldout(y, s) == pytest.approx(expected, rel=1e-12)
    # by hand: at the threshold 1 chosen on A, B has TP = 45 of 45 and some FP of its 45
    # non-members; the symmetric form is log(TNR_low / FNR_high)
    fp = int(np.count_nonzero(s[~split_halves(y, 0) & ~y] >= 1))
    tnr_low = beta.ppf(0.025, 45 - fp, fp + 1)
    fnr_high = beta.ppf(0.975, 1, 45)
    assert epsilon_lower_bound_heldout(y, s) == pytest.approx(np.log(tnr_low / fnr_high))


def test_split_is_stratified_and_seeded() -> None:
    y = np.r_[np.ones(7, bool), np.zeros(12, bool)]
    in_a = split_halves(y, 3)
    assert (in_a & y).sum() == 3 and (in_a & ~y).sum() == 6  # B gets the odd record
    half_a, _ = slow_split(y, 3)
    assert sorted(np.flatnonzero(in_a).tolist()) == sorted(half_a)
    assert not np.array_equal(in_a, split_halves(y, 4))


# ---------------------------------------------------------------- validity without signal


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_heldout_is_valid_where_max_over_thresholds_is_not(alpha: float) -> None:
    # Scores independent of membership: the true epsilon is 0, so a valid 1 - alpha lower
    # bound may be positive in at most a fraction alpha of the draws.
    y = np.r_[np.ones(1000, bool), np.zeros(1000, bool)]
    scores = [np.random.default_rng(i).normal(size=2000) for i in range(100)]
    optimistic = np.array([epsilon_lower_bound(y, s, alpha=alpha) for s in scores])
    heldout = np.array(
        [epsilon_lower_bound_heldout(y, s, alpha=alpha, seed=i) for i, s in enumerate(scores)]
    )
    assert np.mean(heldout > 0) <= 0.05  # 0 in at least 95% of the draws
    assert heldout.mean() < 0.02
    assert np.mean(optimistic > 0) >= np.mean(heldout > 0) + 0.05  # noticeably more often
    if alpha == 0.2:  # the maximum breaks its own nominal level: 42% of draws, not <= 20%
        assert np.mean(optimistic > 0) > 2 * alpha - 0.05


# ---------------------------------------------------------------- perfect separation


@pytest.mark.parametrize("n_neg", [1000, 1201])
def test_perfect_separation_by_hand(n_neg: int) -> None:
    # Binary scores: the threshold 1 chosen on A has TP = all, FP = 0 on B too, so the bound is
    # the closed form of CP with n_B members and m_B non-members (B gets the odd record).
    y = np.r_[np.ones(1000, bool), np.zeros(n_neg, bool)]
    s = y.astype(float)
    n_b, m_b = 500, n_neg - n_neg // 2
    expected = np.log(0.025 ** (1 / n_b) / (1 - 0.025 ** (1 / m_b)))
    assert epsilon_lower_bound_heldout(y, s) == pytest.approx(expected, rel=1e-9)
    assert 0 < epsilon_lower_bound_heldout(y, s) < epsilon_lower_bound(y, s)


@pytest.mark.parametrize("seed", range(5))
def test_perfect_separation_positive_and_below_the_optimistic_bound(seed: int) -> None:
    # Members all score above every non-member. On B, FP = 0 and TP <= n_B < n, and the CP
    # bound with FP = 0 grows with n and with TP, so held-out < full-data optimistic always;
    # with 1000 members per class it is also far from 0.
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.r_[np.ones(1000, bool), np.zeros(1100, bool)])
    s = np.where(y, 1.0 + rng.random(y.size), rng.random(y.size))
    heldout = epsilon_lower_bound_heldout(y, s, seed=seed)
    assert 4.0 < heldout < epsilon_lower_bound(y, s)


def test_heldout_is_zero_for_inverted_or_constant_scores() -> None:
    y = np.r_[np.ones(500, bool), np.zeros(500, bool)]
    assert epsilon_lower_bound_heldout(y, np.zeros(1000)) == 0.0
    assert epsilon_lower_bound_heldout(y, -y.astype(float)) == 0.0
    assert epsilon_lower_bound_heldout(y, y.astype(float), delta=0.999) == 0.0


# ---------------------------------------------------------------- determinism and errors


def test_deterministic_for_a_seed_and_varies_with_it() -> None:
    y, s = random_case(9, 600, 1.5)
    values = [epsilon_lower_bound_heldout(y, s, seed=k) for k in range(6)]
    assert values == [epsilon_lower_bound_heldout(y, s, seed=k) for k in range(6)]
    assert len(set(values)) > 1
    assert epsilon_lower_bound_heldout(y.astype(int), s, seed=2) == values[2]


def test_inputs_are_not_mutated() -> None:
    y, s = random_case(1, 100, 1.0)
    y0, s0 = y.copy(), s.copy()
    epsilon_lower_bound_heldout(y, s)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(s, s0)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"delta": 1.0}, "delta"), ({"delta": -0.1}, "delta"), ({"alpha": 0.0}, "alpha")],
)
def test_rejects_bad_parameters(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        epsilon_lower_bound_heldout([1, 1, 0, 0], [1.0, 0.9, 0.0, 0.1], **kw)


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], "at least 2 of each"),
        ([1, 1, 1, 0], [0.9, 0.1, 0.2, 0.3], "at least 2 of each"),
        ([1, 1, 0], [0.1, 0.2], "mismatched lengths"),
        ([1, 1, 0, 0], [0.1, np.nan, 0.2, 0.3], "non-finite"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "empty non-member set"),
    ],
)
def test_rejects_bad_input(y, s, match: str) -> None:
    with pytest.raises(DataError, match=match):
        epsilon_lower_bound_heldout(y, s)


def test_evaluate_scores_reports_both_bounds() -> None:
    y, s = random_case(6, 500, 2.0)
    m = evaluate_scores(y, s, n_resamples=10, seed=4)
    assert m.epsilon_lower_bound == epsilon_lower_bound(y, s)
    assert m.epsilon_lower_bound_heldout == epsilon_lower_bound_heldout(y, s, seed=4)
    assert 0 < m.epsilon_lower_bound_heldout < m.epsilon_lower_bound
    d = m.to_dict()
    assert d["epsilon_lower_bound_heldout"] == m.epsilon_lower_bound_heldout
    # too few records to split: 0.0 (no evidence), not an error
    assert (
        evaluate_scores([1, 0, 0], [0.9, 0.1, 0.2], n_resamples=5).epsilon_lower_bound_heldout == 0
    )
