"""Unit tests for the output defenses top_k, rounding and labels_only."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.defenses.output import LabelsOnly, Rounding, TopK, round_probs, top_k
from miaudit.errors import ConfigError
from miaudit.targets import CapabilityError, LabelOnlyTarget, PrecomputedTarget


@pytest.fixture
def target():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    logits = rng.normal(scale=3.0, size=(50, 5))
    logits[0] = [1.0, 1.0, 0.0, 0.0, 0.0]  # a tie at the top
    logits[1] = [0.0, 0.0, 0.0, 0.0, 0.0]  # all tied
    return PrecomputedTarget(x, logits=logits), x


def _wrap(defense, target):
    return defense.wrap(target, train=(np.zeros((1, 3)), np.zeros(1, dtype=int)), seed=0)


@pytest.mark.parametrize(
    "defense",
    [
        TopK(k=1),
        TopK(k=2),
        TopK(k=9),
        Rounding(decimals=0),
        Rounding(decimals=1),
        Rounding(decimals=3),
    ],
)
def test_probability_defenses_keep_labels(target, defense):
    t, x = target
    w = _wrap(defense, t)
    p = w.predict_proba(x)
    assert p.shape == (50, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(w.predict_labels(x), t.predict_labels(x))
    assert w.capabilities == frozenset({"probabilities", "labels", "loss"})
    assert w.num_classes == 5
    with pytest.raises(CapabilityError):
        w.predict_logits(x)
    assert np.all(np.isfinite(w.loss(x, t.predict_labels(x))))
    assert defense.report()["name"] == defense.name


def test_top_k_values():
    p = np.array([[0.1, 0.5, 0.15, 0.25]])
    np.testing.assert_allclose(top_k(p, 2), [[0, 0.5 / 0.75, 0, 0.25 / 0.75]])
    np.testing.assert_allclose(top_k(p, 1), [[0, 1, 0, 0]])


def test_round_values():
    np.testing.assert_allclose(round_probs(np.array([[0.123, 0.877]]), 1), [[0.1, 0.9]])
    # a tie after rounding keeps the original top class strictly on top
    out = round_probs(np.array([[0.449, 0.451, 0.1]]), 1)
    assert out.argmax() == 1 and out[0, 1] > out[0, 0]
    np.testing.assert_allclose(out.sum(), 1.0)


def test_labels_only(target):
    t, x = target
    w = _wrap(LabelsOnly(), t)
    assert isinstance(w, LabelOnlyTarget)
    np.testing.assert_array_equal(w.predict_labels(x), t.predict_labels(x))
    with pytest.raises(CapabilityError):
        w.predict_proba(x)


def test_errors(target):
    t, _ = target
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        _wrap(TopK(k=0), t)
    with pytest.raises(ConfigError, match="decimals"):
        _wrap(Rounding(decimals=-1), t)
    with pytest.raises(ConfigError, match="probabilities"):
        _wrap(TopK(), LabelOnlyTarget(t))
