"""Tests of the DP-SGD defense (Abadi et al. 2016, via Opacus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.defenses.dp_sgd import DPSGD
from miaudit.errors import ConfigError
from miaudit.targets import TorchTarget

PARAMS = {"hidden": [16], "epochs": 4, "lr": 1e-2, "batch_size": 32}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def easy(seed: int = 0, n: int = 200):
    """Linearly separable two-class data with a wide margin."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    x[:, 0] += np.where(y == 1, 1.0, -1.0)
    return x, y


def test_trains_deterministic_probability_target_above_chance() -> None:
    x, y = easy()
    dp = DPSGD(noise_multiplier=1.0)
    t1 = dp.train("mlp", PARAMS, x, y, num_classes=2, seed=1)
    t2 = DPSGD(noise_multiplier=1.0).train("mlp", PARAMS, x, y, num_classes=2, seed=1)
    t3 = DPSGD(noise_multiplier=1.0).train("mlp", PARAMS, x, y, num_classes=2, seed=2)
    p1 = t1.predict_proba(x)
    assert isinstance(t1, TorchTarget)
    assert p1.shape == (200, 2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, atol=1e-9)
    assert p1.tobytes() == t2.predict_proba(x).tobytes()
    assert not np.array_equal(p1, t3.predict_proba(x))
    xte, yte = easy(seed=9)
    assert (t1.predict_labels(xte) == yte).mean() > 0.8
    rep = dp.report()
    assert rep["name"] == "dp_sgd" and rep["params"]["noise_multiplier"] == 1.0
    assert rep["delta"] == 1e-5 and 0 < rep["epsilon"] < float("inf")
    assert rep["steps"] == PARAMS["epochs"] * 7  # ceil(200 / 32) lots per epoch
    # a plain module is returned: no Opacus hooks or per-sample buffers left behind
    assert type(t1.module).__name__ == "MLP"
    assert not any(
        hasattr(p, "grad_sample") or hasattr(p, "summed_grad") for p in t1.module.parameters()
    )


def test_epsilon_decreases_as_noise_grows() -> None:
    x, y = easy(n=64)
    params = {**PARAMS, "epochs": 2}
    eps = []
    for sigma in (0.7, 1.0, 2.0, 4.0):
        dp = DPSGD(noise_multiplier=sigma)
        dp.train("mlp", params, x, y, num_classes=2, seed=0)
        eps.append(dp.epsilon_)
    assert all(a > b for a, b in zip(eps, eps[1:], strict=False))


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_target_epsilon_is_met(accountant: str) -> None:
    x, y = easy(n=64)
    params = {**PARAMS, "epochs": 3}
    dp = DPSGD(target_epsilon=2.0, delta=1e-4, accountant=accountant)
    dp.train("mlp", params, x, y, num_classes=2, seed=0)
    assert dp.epsilon_ <= 2.0 + 0.02
    assert dp.epsilon_ > 1.5  # the noise is not grossly over-provisioned
    assert dp.noise_multiplier_ > 0 and dp.delta_ == 1e-4


def test_cnn_without_batchnorm_is_compatible() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    params = {"channels": [4], "hidden": 8, "epochs": 1, "batch_size": 8}
    t = DPSGD(noise_multiplier=1.0).train("cnn", params, x, y, num_classes=3, seed=0)
    assert t.predict_proba(x).shape == (16, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of noise_multiplier and target_epsilon"),
        ({"noise_multiplier": 1.0, "target_epsilon": 1.0}, "exactly one"),
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"target_epsilon": 0.0}, "target_epsilon"),
        ({"noise_multiplier": 1.0, "max_grad_norm": 0.0}, "max_grad_norm"),
        ({"noise_multiplier": 1.0, "delta": 1.0}, "delta"),
        ({"noise_multiplier": 1.0, "accountant": "gdp"}, "accountant"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    x, y = easy(n=20)
    with pytest.raises(ConfigError, match=match):
        DPSGD(**kwargs).train("mlp", PARAMS, x, y, num_classes=2, seed=0)


def test_sklearn_model_is_rejected() -> None:
    x, y = easy(n=20)
    with pytest.raises(ConfigError, match="torch model"):
        DPSGD(noise_multiplier=1.0).train("random_forest", {}, x, y, num_classes=2, seed=0)
