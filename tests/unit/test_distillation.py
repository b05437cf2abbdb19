"""Unit tests for the distillation (DMP) defense and the shared training-time utilities."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.defenses.base import DefenseData
from miaudit.defenses.distillation import Distillation
from miaudit.errors import ConfigError, DataError
from miaudit.targets import TorchTarget
from tests.unit.defense_helpers import PARAMS, one_thread  # noqa: F401  (autouse)
from tests.unit.defense_helpers import make_data as _data
from tests.unit.defense_helpers import train_defense as _train


def test_student_outputs_deterministic_and_report():
    x, _ = _data()
    d = Distillation(temperature=2.0)
    t = _train(d)
    assert isinstance(t, TorchTarget)
    p = t.predict_proba(x)
    assert p.shape == (48, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(p, _train(Distillation(temperature=2.0)).predict_proba(x))
    assert not np.array_equal(p, _train(Distillation(temperature=2.0), seed=1).predict_proba(x))
    rep = d.report()
    assert rep["name"] == "distillation" and rep["kind"] == "training"
    assert rep["params"] == {"temperature": 2.0}
    assert rep["reference_size"] == 48
    assert 0.0 <= rep["student_accuracy"] <= 1.0 and 0.0 <= rep["teacher_accuracy"] <= 1.0


def test_cnn_recipe():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    params = {"channels": (2,), "hidden": 8, "epochs": 1, "batch_size": 6}
    t = Distillation().train(
        "cnn", params, x, y, num_classes=3, seed=0, data=DefenseData(reference=(x[:6], y[:6]))
    )
    assert t.predict_proba(x).shape == (12, 3)


def test_errors():
    with pytest.raises(ConfigError, match="reference set"):
        _train(Distillation(), ref=False)
    with pytest.raises(ConfigError, match="temperature"):
        _train(Distillation(temperature=0))
    with pytest.raises(ConfigError, match="torch models only"):
        _train(Distillation(), model="random_forest")
    with pytest.raises(ConfigError, match="unknown parameter 'depth'"):
        _train(Distillation(), params={"depth": 3})
    x, y = _data()
    with pytest.raises(DataError, match="reference records"):
        Distillation().train(
            "mlp",
            PARAMS,
            x,
            y,
            num_classes=3,
            seed=0,
            data=DefenseData(reference=(x[:, :4], y)),
        )
