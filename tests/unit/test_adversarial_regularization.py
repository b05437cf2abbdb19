"""Unit tests for adversarial regularisation (Nasr, Shokri & Houmansadr 2018)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from miaudit.defenses.adversarial_regularization import AdversarialRegularization
from miaudit.errors import ConfigError
from tests.unit.defense_helpers import PARAMS, one_thread  # noqa: F401  (autouse)
from tests.unit.defense_helpers import make_data as _data
from tests.unit.defense_helpers import train_defense as _train


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
