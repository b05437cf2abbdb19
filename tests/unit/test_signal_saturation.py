"""Signals at saturation (issue 9, item 4) against an mpmath reference.

A model trained to zero loss gives members logit margins of 40 to 200. The naive
``logsumexp(z) - z_y`` rounds to 0 beyond a margin of ~37 and ties those records at the top
score. The reference below is the textbook formula evaluated with 400 significant digits,
enough to resolve 1 - p down to exp(-700) ~ 1e-304.
"""

import mpmath  # installed with torch (torch -> sympy -> mpmath)
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import rankdata

from miaudit.attacks import make_attack
from miaudit.attacks.base import AttackerKnowledge
from miaudit.outputs import ModelOutputs, softmax
from miaudit.signals import entropy, loss, modified_entropy, scaled_logit

DPS = 400
NAMES = ("loss", "entropy", "modified_entropy", "scaled_logit")
FUNCS = {"loss": loss, "entropy": entropy, "modified_entropy": modified_entropy}
FUNCS["scaled_logit"] = scaled_logit
# Relative error of the float64 signals: the centred logits are exact (float32 inputs), the
# log-sum-exp and the final additions round once each, so about 4 ulp x margin:
# 4 * 1.1e-16 * 700 = 3e-13 at the largest margin tested. 1e-12 holds with room.
RTOL = 1e-12


def exact_signals(z: np.ndarray, y: int) -> dict[str, float]:
    """Textbook loss, entropy, modified entropy and scaled logit of one record, in mpmath."""
    with mpmath.workdps(DPS):
        zs = [mpmath.mpf(float(v)) for v in z]
        total = mpmath.fsum(mpmath.exp(v) for v in zs)
        p = [mpmath.exp(v) / total for v in zs]
        log_p = [mpmath.log(v) for v in p]
        others = [i for i in range(len(zs)) if i != y]
        mentr = -(1 - p[y]) * log_p[y] - mpmath.fsum(p[i] * mpmath.log(1 - p[i]) for i in others)
        return {
            "loss": float(-log_p[y]),
            "entropy": float(-mpmath.fsum(a * b for a, b in zip(p, log_p, strict=True))),
            "modified_entropy": float(mentr),
            "scaled_logit": float(log_p[y] - mpmath.log(1 - p[y])),
        }


def exact_table(z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    rows = [exact_signals(z[i], int(y[i])) for i in range(len(y))]
    return {k: np.array([r[k] for r in rows]) for k in NAMES}


def margin_logits(margins: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    """float32 logits whose class 0 leads every other class by ``margins`` (others spread
    over 3 nats below the runner-up), as float64: what a torch target hands over."""
    rng = np.random.default_rng(seed)
    z = np.zeros((len(margins), num_classes), dtype=np.float32)
    z[:, 1:] = -rng.uniform(0.0, 3.0, size=(len(margins), num_classes - 1))
    z[:, 1] = 0.0
    z[:, 0] = margins
    return z.astype(np.float64)


def naive_loss(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The formula this fix replaces (0 beyond a margin of ~37)."""
    return logsumexp(z, axis=1) - z[np.arange(len(y)), y]


MARGINS = np.linspace(1.0, 200.0, 100).astype(np.float32)


@pytest.mark.parametrize("num_classes", [2, 10])
def test_signals_match_mpmath_across_margins(num_classes):
    z = margin_logits(MARGINS, num_classes)
    y = np.zeros(len(z), dtype=np.int64)  # the true class is the confident one: saturation
    out = ModelOutputs.from_logits(z, y)
    exact = exact_table(z, y)
    for name in NAMES:
        np.testing.assert_allclose(FUNCS[name](out), exact[name], rtol=RTOL, err_msg=name)
    # The naive loss ties every record beyond a margin of ~37 at exactly 0 (the bug).
    assert np.sum(naive_loss(z, y) == 0.0) > 50


@pytest.mark.parametrize("num_classes", [2, 10])
def test_confidently_wrong_records_match_mpmath(num_classes):
    z = margin_logits(MARGINS, num_classes, seed=1)
    y = np.full(len(z), num_classes - 1)  # the true class is far below the top one
    out = ModelOutputs.from_logits(z, y)
    exact = exact_table(z, y)
    for name in NAMES:
        np.testing.assert_allclose(FUNCS[name](out), exact[name], rtol=RTOL, err_msg=name)


def test_random_multiclass_logits_match_mpmath():
    rng = np.random.default_rng(2)
    z = rng.normal(scale=25.0, size=(60, 5)).astype(np.float32).astype(np.float64)
    y = rng.integers(0, 5, 60)
    out = ModelOutputs.from_logits(z, y)
    exact = exact_table(z, y)
    for name in NAMES:
        np.testing.assert_allclose(FUNCS[name](out), exact[name], rtol=RTOL, err_msg=name)


@pytest.mark.parametrize(
    ("names", "top"),
    # loss and entropy ~ exp(-margin) stay normal floats up to a margin of ~708; the
    # modified entropy ~ exp(-2 margin) up to ~354 (module docstring of signals.functions).
    [(("loss", "entropy", "scaled_logit"), 700.0), (("modified_entropy",), 350.0)],
)
def test_ranking_has_no_ties_the_exact_values_lack(names, top):
    rng = np.random.default_rng(3)
    margins = rng.uniform(1.0, top, 150).astype(np.float32)
    z = margin_logits(margins, 4, seed=4)
    y = np.zeros(len(z), dtype=np.int64)
    out = ModelOutputs.from_logits(z, y)
    exact = exact_table(z, y)
    for name in names:
        values = FUNCS[name](out)
        np.testing.assert_allclose(values, exact[name], rtol=RTOL, err_msg=name)
        assert np.all(values != 0.0), name
        np.testing.assert_array_equal(
            rankdata(values, method="min"), rankdata(exact[name], method="min"), err_msg=name
        )


@pytest.mark.parametrize("attack", ["loss", "entropy", "modified_entropy"])
def test_threshold_attacks_give_distinct_scores_on_saturated_logits(attack):
    # 1,000 records as a model trained to zero loss leaves them: margins 40 to 150.
    rng = np.random.default_rng(5)
    z = margin_logits(rng.uniform(40.0, 150.0, 1000).astype(np.float32), 10, seed=6)
    y = np.zeros(len(z), dtype=np.int64)
    out = ModelOutputs.from_logits(z, y)
    scores = make_attack(attack).fit(AttackerKnowledge(num_classes=10)).score_samples(out)
    assert len(np.unique(scores)) == len(scores)
    assert len(np.unique(naive_loss(z, y))) == 1  # all 0.0 before the fix


def test_probabilities_only_use_the_other_classes_at_saturation():
    # float64 softmax (scikit-learn MLP, multinomial logistic regression): the top
    # probability is exactly 1.0 beyond a margin of ~37, the others keep their digits.
    margins = np.linspace(40.0, 300.0, 80).astype(np.float32)
    z = margin_logits(margins, 5, seed=7)
    y = np.zeros(len(z), dtype=np.int64)
    out = ModelOutputs(probs=softmax(z), y=y)
    assert np.all(out.probs[:, 0] == 1.0)
    exact = exact_table(z, y)
    # The small probabilities carry a few ulp of softmax rounding; the signals add a few more.
    for name in ("loss", "entropy", "modified_entropy"):
        np.testing.assert_allclose(FUNCS[name](out), exact[name], rtol=RTOL, err_msg=name)
        assert len(np.unique(FUNCS[name](out))) == len(z), name
    # The scaled logit from probabilities is exact up to its documented cap -log(1e-30).
    phi = scaled_logit(out)
    below = exact["scaled_logit"] < 69.0
    np.testing.assert_allclose(phi[below], exact["scaled_logit"][below], rtol=RTOL)
    np.testing.assert_array_equal(phi[~below], np.full((~below).sum(), -np.log(1e-30)))


def test_float32_probabilities_rank_near_saturation():
    # Probabilities computed in float32 (a float32 softmax) and passed on: 1 - p is
    # quantized at 6e-8, the small probabilities are not.
    margins = np.linspace(12.0, 80.0, 120).astype(np.float32)
    z = margin_logits(margins, 5, seed=8)
    probs32 = softmax(z).astype(np.float32)
    y = np.zeros(len(z), dtype=np.int64)
    out = ModelOutputs(probs=probs32, y=y)
    exact = exact_table(z, y)
    for name in ("loss", "entropy", "modified_entropy"):
        values = FUNCS[name](out)
        # Each float32 probability is within 2**-24 = 6e-8 relative; a few such roundings.
        np.testing.assert_allclose(values, exact[name], rtol=1e-6, err_msg=name)
        assert len(np.unique(values)) == len(values), name


def test_probabilities_without_the_rest_tie_as_documented():
    # A binary scikit-learn classifier returns [1 - p, p]: when p rounds to 1.0 the other
    # entry is exactly 0 and nothing is left to rank by. Rows that do not sum to 1 (allowed
    # to 1e-3) keep the formula on p.
    p = np.array([[0.0, 1.0], [0.0, 1.0], [5e-4, 1.0]])
    out = ModelOutputs(probs=p, y=np.array([1, 1, 1]))
    np.testing.assert_array_equal(loss(out), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(modified_entropy(out)[:2], [0.0, 0.0])


def test_non_saturated_values_agree_with_the_textbook_formulas():
    # Away from saturation the fix changes the last bits only: the naive float64 formulas
    # lose at most eps * |logsumexp| / value ~ 1e-12 relative here (scale-2 logits).
    rng = np.random.default_rng(9)
    z = rng.normal(scale=2.0, size=(500, 10)).astype(np.float32).astype(np.float64)
    y = rng.integers(0, 10, 500)
    out = ModelOutputs.from_logits(z, y)
    p = softmax(z)
    idx = np.arange(500)
    p_y = p[idx, y]
    others = p.copy()
    others[idx, y] = 0.0
    np.testing.assert_allclose(loss(out), naive_loss(z, y), rtol=1e-10)
    np.testing.assert_allclose(entropy(out), -np.sum(p * np.log(p), axis=1), rtol=1e-10)
    mentr = -(1 - p_y) * np.log(p_y) - np.sum(others * np.log(1 - others), axis=1)
    np.testing.assert_allclose(modified_entropy(out), mentr, rtol=1e-10)


def test_equal_true_class_probabilities_tie_exactly():
    """Vote shares (a random forest) with equal p_y must give equal losses: the other
    classes' sum stands for 1 - p_y only where 1 - p_y itself has lost its digits, else its
    rounding (0.03 + 0.07 != 0.05 + 0.05 in float64) broke exact ties at random and moved
    TPR at low FPR (issue 9 item 4 follow-up)."""
    p = np.array([[0.9, 0.03, 0.07], [0.9, 0.05, 0.05], [0.9, 0.1, 0.0], [0.9, 0.07, 0.03]])
    out = ModelOutputs(probs=p, y=np.zeros(4, dtype=np.int64))
    assert len(np.unique(loss(out))) == 1
    assert loss(out)[0] == -np.log(0.9)
    # near saturation the rest still ranks float64 softmax rows (it holds the digits)
    z = margin_logits(np.array([40.0, 41.0, 42.0], dtype=np.float32), 5, seed=2)
    soft = ModelOutputs(probs=softmax(z), y=np.zeros(3, dtype=np.int64))
    assert len(np.unique(loss(soft))) == 3


def test_entropies_do_not_depend_on_the_class_order():
    """The same probabilities in another class order give bit-identical entropies (sums in
    a canonical order), so such records tie instead of differing in the last bit."""
    rng = np.random.default_rng(11)
    base = rng.dirichlet(np.ones(10), size=200)
    perm = np.stack([rng.permutation(10) for _ in range(200)])
    shuffled = np.take_along_axis(base, perm, axis=1)
    a = ModelOutputs(probs=base, y=np.zeros(200, dtype=np.int64))
    b = ModelOutputs(probs=shuffled, y=np.argsort(perm, axis=1)[:, 0])
    np.testing.assert_array_equal(entropy(a), entropy(b))
    np.testing.assert_array_equal(modified_entropy(a), modified_entropy(b))
    za = np.log(base)
    np.testing.assert_array_equal(
        entropy(ModelOutputs.from_logits(za, a.y)),
        entropy(ModelOutputs.from_logits(np.take_along_axis(za, perm, axis=1), b.y)),
    )
