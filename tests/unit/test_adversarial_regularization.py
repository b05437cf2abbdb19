"""Unit tests for adversarial regularisation (Nasr, Shokri & Houmansadr 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from miaudit.defenses.adversarial_regularization import AdversarialRegularization
from miaudit.defenses.base import DefenseData
from miaudit.errors import ConfigError

PARAMS = {"hidden": (16,), "epochs": 3, "batch_size": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


def _train(defense, seed=0, ref=True):
    x, y = _data()
    data = DefenseData(reference=_data(seed=1)) if ref else DefenseData()
    return defense.train("mlp", PARAMS, x, y, num_classes=3, seed=seed, data=data)


def test_outputs_deterministic_and_report():
    x, _ = _data()
    d = AdversarialRegularization(alpha=1.0, k_steps=2)
    p = _train(d).predict_proba(x)
    assert p.shape == (48, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    again = _train(AdversarialRegularization(alpha=1.0, k_steps=2)).predict_proba(x)
    np.testing.assert_array_equal(p, again)
    rep = d.report()
    assert rep["params"] == {"alpha": 1.0, "k_steps": 2, "attack_width": 64, "attack_lr": 1e-3}
    assert math.isfinite(rep["inference_gain"]) and rep["inference_gain"] < 0
    assert 0.0 <= rep["inference_accuracy"] <= 1.0
    # alpha changes the trained model
    other = _train(AdversarialRegularization(alpha=0.0, k_steps=2)).predict_proba(x)
    assert not np.array_equal(p, other)


def test_errors():
    with pytest.raises(ConfigError, match="reference set"):
        _train(AdversarialRegularization(), ref=False)
    with pytest.raises(ConfigError, match="k_steps"):
        _train(AdversarialRegularization(k_steps=0))
    with pytest.raises(ConfigError, match="alpha"):
        _train(AdversarialRegularization(alpha=-1.0))
