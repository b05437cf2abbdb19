"""Unit tests for model stacking (Salem et al. 2019)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.defenses.model_stacking import ModelStacking, StackedModel
from miaudit.errors import ConfigError
from miaudit.targets import TorchTarget
from tests.unit.defense_helpers import PARAMS, one_thread  # noqa: F401  (autouse)
from tests.unit.defense_helpers import make_data as _data


def test_stacked_target_deterministic_and_report():
    x, y = _data()
    d = ModelStacking()
    t = d.train("mlp", PARAMS, x, y, num_classes=3, seed=0)
    assert isinstance(t, TorchTarget) and isinstance(t.module, StackedModel)
    p = t.predict_proba(x)
    assert p.shape == (48, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    again = ModelStacking().train("mlp", PARAMS, x, y, num_classes=3, seed=0)
    np.testing.assert_array_equal(p, again.predict_proba(x))
    rep = d.report()
    assert rep["part_sizes"] == "16/16/16"
    assert 0 <= rep["train_accuracy"] <= 1
    assert "stacked" in t.description
    # the composition is really x -> C([A(x), B(x)])
    m = t.module
    with torch.no_grad():
        xt = torch.from_numpy(x)
        feats = torch.cat([torch.softmax(m.a(xt), 1), torch.softmax(m.b(xt), 1)], 1)
        # Same float32 ops on the same 48 rows; the atol covers logits near 0 should a kernel
        # round differently (an ulp of |z| ~ 1 is 1.2e-7).
        np.testing.assert_allclose(
            t.predict_logits(x), m.c(feats).double().numpy(), rtol=1e-5, atol=1e-6
        )


def test_errors():
    x, y = _data(n=2)
    with pytest.raises(ConfigError, match="leave one empty"):
        ModelStacking().train("mlp", PARAMS, x, y, num_classes=3, seed=0)
    x, y = _data()
    with pytest.raises(ConfigError, match="fractions"):
        ModelStacking(fractions=(0.5, 0.5)).train("mlp", PARAMS, x, y, num_classes=3, seed=0)
    with pytest.raises(ConfigError, match="torch models only"):
        ModelStacking().train("logistic_regression", {}, x, y, num_classes=3, seed=0)
