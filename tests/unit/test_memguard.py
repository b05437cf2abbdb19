"""Unit tests for the MemGuard defense (Jia et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.defenses.base import DefenseData
from miaudit.defenses.memguard import MemGuard, find_noise
from miaudit.errors import ConfigError
from miaudit.models import train_model
from miaudit.targets import LabelOnlyTarget


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy():
    """An overfit MLP on random labels: members (train) vs reference vs held-out records."""
    rng = np.random.default_rng(0)

    def draw(n):
        return rng.normal(size=(n, 10)).astype(np.float32), rng.integers(0, 4, n)

    train, ref, held = draw(100), draw(100), draw(60)
    params = {"hidden": (64,), "epochs": 60, "batch_size": 32, "lr": 1e-2}
    target = train_model("mlp", params, *train, num_classes=4, seed=0)
    return target, train, ref, held


def _wrap(toy, budget, **kw):
    target, train, ref, _ = toy
    d = MemGuard(budget=budget, max_iter=60, **kw)
    return d, d.wrap(target, train=train, seed=3, data=DefenseData(reference=ref))


def test_labels_exactly_unchanged_and_probability_rows(toy):
    target, train, _, held = toy
    d, w = _wrap(toy, 1.0)
    x = np.concatenate([train[0], held[0]])
    p = w.predict_proba(x)
    assert p.shape == (len(x), 4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(p >= 0)
    np.testing.assert_array_equal(w.predict_labels(x), target.predict_labels(x))
    np.testing.assert_array_equal(p.argmax(axis=1), target.predict_proba(x).argmax(axis=1))
    assert w.capabilities == frozenset({"probabilities", "labels", "loss"})
    assert w.num_classes == 4
    assert w.query_count == 2 * len(x)
    assert d.report()["noised_fraction"] > 0  # the noise is really applied somewhere
    assert not np.allclose(p, target.predict_proba(x))


def test_deterministic_repeat_and_seed(toy):
    _, train, _, held = toy
    _, w1 = _wrap(toy, 0.3)
    _, w2 = _wrap(toy, 0.3)
    a = w1.predict_proba(held[0])
    np.testing.assert_array_equal(a, w1.predict_proba(held[0]))  # same record, same answer
    np.testing.assert_array_equal(a[::-1], w1.predict_proba(held[0][::-1]))
    np.testing.assert_array_equal(a, w2.predict_proba(held[0]))  # same seed, same answer


def test_budget_moves_defender_accuracy_towards_half(toy):
    gaps = []
    for budget in (0.0, 0.1, 1.0):
        d, _ = _wrap(toy, budget)
        rep = d.report()
        gaps.append(abs(rep["defended_defender_accuracy"] - 0.5))
        assert rep["mean_distortion"] <= budget + 1e-12
    d, _ = _wrap(toy, 0.0)
    assert d.report()["defender_accuracy"] > 0.6  # the toy model leaks
    assert gaps[0] == pytest.approx(abs(d.report()["defender_accuracy"] - 0.5))
    assert gaps[0] > gaps[1] > gaps[2]


def test_phase_one_reaches_half_with_label_kept(toy):
    target, train, _, _ = toy
    d, _ = _wrap(toy, 1.0)
    s = target.predict_proba(train[0])
    out = find_noise(d.g_, s, max_iter=60)
    changed = np.abs(out - s).sum(axis=1) > 0
    assert changed.any()
    with torch.no_grad():
        g_out = d.g_(torch.from_numpy(out[changed])).numpy()
    np.testing.assert_allclose(g_out, 0.0, atol=1e-6)  # g(s + n) = 0.5
    np.testing.assert_array_equal(out.argmax(1), s.argmax(1))


def test_errors(toy):
    target, train, _, _ = toy
    with pytest.raises(ConfigError, match="reference non-member"):
        MemGuard().wrap(target, train=train, seed=0)
    with pytest.raises(ConfigError, match="budget"):
        MemGuard(budget=-1.0).wrap(target, train=train, seed=0)
    with pytest.raises(ConfigError, match="probabilities"):
        MemGuard().wrap(
            LabelOnlyTarget(target), train=train, seed=0, data=DefenseData(reference=train)
        )
