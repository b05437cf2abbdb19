"""Signals against slow, obviously-correct per-record loops."""

import math

import numpy as np
import pytest

from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, softmax
from miaudit.signals import (
    correctness,
    entropy,
    loss,
    max_confidence,
    modified_entropy,
    scaled_logit,
    true_class_confidence,
)


def random_outputs(n=50, c=5, seed=0, with_logits=True):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, c))
    y = rng.integers(0, c, n)
    if with_logits:
        return ModelOutputs.from_logits(logits, y)
    return ModelOutputs(probs=softmax(logits), y=y)


@pytest.mark.parametrize("with_logits", [True, False])
def test_signals_match_slow_loops(with_logits):
    out = random_outputs(with_logits=with_logits)
    for i in range(out.n):
        p, y = out.probs[i], out.y[i]
        assert loss(out)[i] == pytest.approx(-math.log(p[y]), rel=1e-9)
        assert true_class_confidence(out)[i] == pytest.approx(p[y])
        assert max_confidence(out)[i] == pytest.approx(max(p))
        assert entropy(out)[i] == pytest.approx(-sum(q * math.log(q) for q in p), rel=1e-9)
        mentr = -(1 - p[y]) * math.log(p[y]) - sum(
            p[j] * math.log(1 - p[j]) for j in range(len(p)) if j != y
        )
        assert modified_entropy(out)[i] == pytest.approx(mentr, rel=1e-9)
        phi = math.log(p[y]) - math.log(1 - p[y])
        assert scaled_logit(out)[i] == pytest.approx(phi, rel=1e-7, abs=1e-9)
        assert correctness(out)[i] == float(np.argmax(p) == y)


def test_scaled_logit_is_stable_from_logits():
    # f(x)_y rounds to exactly 1.0 in float64; the logit form must still be exact.
    logits = np.array([[60.0, 0.0, 0.0], [0.0, 45.0, 1.0]])
    out = ModelOutputs.from_logits(logits, np.array([0, 1]))
    assert out.probs[0, 0] == 1.0
    expected = np.array([60.0 - math.log(2.0), 45.0 - math.log(1.0 + math.e)])
    np.testing.assert_allclose(scaled_logit(out), expected, rtol=1e-12)
    # The loss too (issue 9 item 4): log1p(2 e^-60) = 1.75e-26, where log(1 + 2 e^-60) and
    # logsumexp(z) - z_y round to 0.
    np.testing.assert_allclose(loss(out)[0], math.log1p(2 * math.exp(-60.0)), rtol=1e-12)


def test_model_outputs_validation_errors():
    good = softmax(np.zeros((3, 4)))
    with pytest.raises(DataError, match="mismatched lengths"):
        ModelOutputs(probs=good, y=np.array([0, 1]))
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(DataError, match="NaN or inf"):
        ModelOutputs(probs=bad, y=np.array([0, 1, 2]))
    with pytest.raises(DataError, match="outside the classes"):
        ModelOutputs(probs=good, y=np.array([0, 1, 4]))
    with pytest.raises(DataError, match="sum to 1"):
        ModelOutputs(probs=good * 0.5, y=np.array([0, 1, 2]))
    with pytest.raises(DataError, match="NaN or inf"):
        ModelOutputs.from_logits(np.array([[0.0, np.inf]]), np.array([0]))
