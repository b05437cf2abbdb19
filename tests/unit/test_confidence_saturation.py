"""The ``confidence`` attack at saturation (issue 9 item 4, follow-up to the signal fix).

The max posterior is exactly 1.0 in float64 beyond a logit margin of ~37, so the attack
scored every such record the same. It now scores the log-odds of the max posterior, a
strictly increasing function of it, exact at any margin. The reference is the textbook
log(p / (1 - p)) evaluated with 400 significant digits.
"""

import mpmath  # installed with torch (torch -> sympy -> mpmath)
import numpy as np
import pytest
from scipy.stats import rankdata

from miaudit.attacks import AttackerKnowledge, make_attack
from miaudit.metrics import auc, tpr_at_fpr
from miaudit.outputs import ModelOutputs, softmax
from miaudit.signals import (
    max_confidence,
    max_confidence_log_odds,
    probability_log_odds,
)
from miaudit.signals.functions import PROB_LOG_ODDS_CAP, SATURATED_LOG_ODDS
from tests.unit.test_signal_saturation import margin_logits

# Relative error of the float64 log-odds: the centred logits are exact (float32 inputs),
# the log-sum-exp rounds a few times: a few ulp (1e-16) of values of 1 to 200. From float64
# probabilities the other classes' sum adds a few ulp of softmax rounding. 1e-12 holds.
RTOL = 1e-12


def exact_log_odds(z: np.ndarray) -> np.ndarray:
    """log(p_max / (1 - p_max)) of each row of logits, in mpmath."""
    result = []
    with mpmath.workdps(400):
        for row in z:
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
            p = max(e) / mpmath.fsum(e)
            result.append(float(mpmath.log(p) - mpmath.log(1 - p)))
    return np.array(result)


def confidence_scores(out: ModelOutputs, random_queries: ModelOutputs | None = None):
    knowledge = AttackerKnowledge(num_classes=out.num_classes, random_queries=random_queries)
    attack = make_attack("confidence").fit(knowledge)
    return attack.score_samples(out), attack.threshold_


@pytest.mark.parametrize("num_classes", [2, 10])
def test_saturated_records_get_distinct_exact_scores(num_classes):
    rng = np.random.default_rng(1)
    margins = rng.uniform(40.0, 200.0, 300).astype(np.float32)
    z = margin_logits(margins, num_classes, seed=2)
    out = ModelOutputs.from_logits(z, np.zeros(len(z), dtype=np.int64))
    assert np.all(max_confidence(out) == 1.0)  # the old score: one big tie
    scores, _ = confidence_scores(out)
    exact = exact_log_odds(z)
    np.testing.assert_allclose(scores, exact, rtol=RTOL)
    assert len(np.unique(scores)) == len(scores)
    np.testing.assert_array_equal(rankdata(scores), rankdata(exact))


def test_log_odds_match_mpmath_on_random_logits():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=25.0, size=(80, 5)).astype(np.float32).astype(np.float64)
    out = ModelOutputs.from_logits(z, rng.integers(0, 5, 80))
    # Values cross 0 (p_max near 1/2): an absolute term of a few ulp of the logits' scale.
    np.testing.assert_allclose(
        max_confidence_log_odds(out), exact_log_odds(z), rtol=RTOL, atol=1e-12
    )


@pytest.mark.parametrize("with_logits", [True, False])
def test_ranking_metrics_unchanged_without_saturation(with_logits):
    # Unsaturated outputs (scale-2 logits, p_max < 1 - 1e-9): the old score (the max
    # posterior) and the new one order the records identically, so every ROC metric is equal.
    rng = np.random.default_rng(4)
    n, c = 4000, 10
    z = rng.normal(scale=2.0, size=(n, c)).astype(np.float32).astype(np.float64)
    member = rng.random(n) < 0.5
    z[member, 0] += 1.0  # members somewhat more confident
    y = rng.integers(0, c, n)
    out = ModelOutputs.from_logits(z, y) if with_logits else ModelOutputs(probs=softmax(z), y=y)
    old = max_confidence(out)
    new, _ = confidence_scores(out)
    np.testing.assert_array_equal(rankdata(new), rankdata(old))
    assert auc(member, new) == auc(member, old)
    for level in (0.001, 0.01, 0.1):
        assert tpr_at_fpr(member, new, level) == tpr_at_fpr(member, old, level)


def test_threshold_is_the_transformed_percentile_and_keeps_decisions():
    rng = np.random.default_rng(5)
    rand = ModelOutputs.from_logits(rng.normal(scale=2.0, size=(1000, 10)), np.zeros(1000, int))
    out = ModelOutputs.from_logits(rng.normal(scale=3.0, size=(3000, 10)), np.zeros(3000, int))
    old_threshold = np.percentile(max_confidence(rand), 90.0)
    scores, threshold = confidence_scores(out, rand)
    assert threshold == pytest.approx(np.log(old_threshold / (1 - old_threshold)), rel=1e-12)
    np.testing.assert_array_equal(scores >= threshold, max_confidence(out) >= old_threshold)


@pytest.mark.parametrize("float32_probs", [False, True])
def test_threshold_of_one_keeps_the_records_that_read_one(float32_probs):
    # Most random queries saturate, so the 90th percentile is 1.0: the old attack flagged
    # exactly the records whose max posterior reads 1.0. Margins 0-60 straddle the band
    # where the float64 softmax starts rounding to 1.0 (float32: from a margin of ~17).
    rng = np.random.default_rng(6)
    rand_z = margin_logits(rng.uniform(50.0, 100.0, 500).astype(np.float32), 10, seed=7)
    z = margin_logits(rng.uniform(0.0, 60.0, 5000).astype(np.float32), 10, seed=8)
    y = np.zeros(len(z), dtype=np.int64)
    if float32_probs:  # a target that hands over float32 probabilities only
        rand = ModelOutputs(probs=softmax(rand_z).astype(np.float32), y=y[:500])
        out = ModelOutputs(probs=softmax(z).astype(np.float32), y=y)
    else:
        rand, out = ModelOutputs.from_logits(rand_z, y[:500]), ModelOutputs.from_logits(z, y)
    assert np.percentile(max_confidence(rand), 90.0) == 1.0
    scores, threshold = confidence_scores(out, rand)
    assert threshold == SATURATED_LOG_ODDS
    reads_one = max_confidence(out) == 1.0
    assert 1000 < reads_one.sum() < 4000
    np.testing.assert_array_equal(scores >= threshold, reads_one)


def test_probabilities_only_rank_by_the_other_classes():
    # float64 probabilities (scikit-learn): p_max is 1.0, the others keep their digits.
    margins = np.linspace(40.0, 300.0, 90).astype(np.float32)
    z = margin_logits(margins, 5, seed=9)
    out = ModelOutputs(probs=softmax(z), y=np.zeros(len(z), dtype=np.int64))
    scores = max_confidence_log_odds(out)
    np.testing.assert_allclose(scores, exact_log_odds(z), rtol=RTOL)
    assert len(np.unique(scores)) == len(scores)
    # Nothing left to rank by: p_max 1.0 and the others exactly 0 (a binary classifier's
    # [1 - p, p]) get the cap, above every finite value; a row that only sums to 1 within
    # the 1e-3 ModelOutputs allows keeps the transform of p_max (1.0: SATURATED_LOG_ODDS).
    p = np.array([[0.0, 1.0], [1.0, 0.0], [5e-4, 1.0], [0.25, 0.75]])
    out = ModelOutputs(probs=p, y=np.array([1, 1, 1, 1]))
    expected = [PROB_LOG_ODDS_CAP, PROB_LOG_ODDS_CAP, SATURATED_LOG_ODDS, np.log(3.0)]
    np.testing.assert_allclose(max_confidence_log_odds(out), expected, rtol=1e-15)


def test_probability_log_odds_is_increasing():
    p = np.array([0.1, 0.5, 0.9, 1 - 2**-52, 1.0])
    odds = probability_log_odds(p)
    np.testing.assert_allclose(odds[:3], np.log(p[:3] / (1 - p[:3])), rtol=1e-15, atol=1e-16)
    assert np.all(np.diff(odds) > 0)
    assert odds[-1] == SATURATED_LOG_ODDS == 53 * np.log(2.0)


def test_tied_vote_shares_stay_tied():
    # A random forest's max vote share 0.7 with the other 0.3 split differently: the
    # others' sums differ in the last bit (0.1 + 0.2 != 0.3), which must not break the tie.
    p = np.array([[0.7, 0.1, 0.2], [0.7, 0.3, 0.0], [0.7, 0.0, 0.3]])
    assert p[0, 1] + p[0, 2] != p[1, 1]
    out = ModelOutputs(probs=p, y=np.array([0, 0, 0]))
    assert len(np.unique(max_confidence_log_odds(out))) == 1
