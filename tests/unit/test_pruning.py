"""Tests of the pruning defense (Wang et al. 2021, IJCAI)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from miaudit.defenses.pruning import Pruning, prunable_weights, weight_sparsity
from miaudit.errors import ConfigError
from miaudit.models import train_model
from miaudit.targets import TorchTarget

PARAMS = {"hidden": [64], "epochs": 60, "lr": 1e-2, "batch_size": 32}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def noisy_linear(seed: int, n: int = 120, d: int = 20):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = ((x @ w + 2.0 * rng.normal(size=2 * n)) > 0).astype(np.int64)
    return x[:n], y[:n], x[n:], y[n:]


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_weights_are_pruned_to_the_sparsity(sparsity: float) -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=60)
    pr = Pruning(sparsity=sparsity, finetune_epochs=2)
    t = pr.train("mlp", {**PARAMS, "epochs": 3}, xtr, ytr, num_classes=2, seed=0)
    assert isinstance(t, TorchTarget)
    total = sum(m.weight.numel() for m, _ in prunable_weights(t.module))
    assert pr.pruned_weights_ == round(sparsity * total)
    # the mask stays fixed through fine-tuning: the measured share of zeros is the sparsity
    assert pr.sparsity_ == pytest.approx(sparsity, abs=1.0 / total)
    assert weight_sparsity(t.module) == pr.sparsity_
    # pruning is permanent: plain parameters, no masks or reparametrisation left
    assert not any(prune.is_pruned(m) for m in t.module.modules())
    names = {n for n, _ in t.module.named_parameters()}
    assert all(n.endswith(("weight", "bias")) for n in names)
    rep = pr.report()
    assert rep["name"] == "pruning" and rep["params"]["sparsity"] == sparsity
    assert rep["sparsity"] == pr.sparsity_


def test_deterministic_probabilities() -> None:
    xtr, ytr, xte, _ = noisy_linear(0, n=60)
    params = {**PARAMS, "epochs": 3}
    p1 = Pruning(sparsity=0.7).train("mlp", params, xtr, ytr, num_classes=2, seed=4)
    p2 = Pruning(sparsity=0.7).train("mlp", params, xtr, ytr, num_classes=2, seed=4)
    probs = p1.predict_proba(xte)
    assert probs.shape == (60, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert probs.tobytes() == p2.predict_proba(xte).tobytes()


def test_zero_sparsity_without_finetuning_is_the_undefended_model() -> None:
    xtr, ytr, xte, _ = noisy_linear(1, n=60)
    params = {**PARAMS, "epochs": 3}
    base = train_model("mlp", params, xtr, ytr, num_classes=2, seed=2)
    t = Pruning(sparsity=0.0, finetune_epochs=0).train(
        "mlp", params, xtr, ytr, num_classes=2, seed=2
    )
    assert t.predict_proba(xte).tobytes() == base.predict_proba(xte).tobytes()


def test_the_smallest_weights_are_pruned_globally() -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=60)
    params = {**PARAMS, "epochs": 3}
    base = train_model("mlp", params, xtr, ytr, num_classes=2, seed=0)
    t = Pruning(sparsity=0.6, finetune_epochs=0).train(
        "mlp", params, xtr, ytr, num_classes=2, seed=0
    )
    before = torch.cat(
        [m.weight.detach().abs().flatten() for m, _ in prunable_weights(base.module)]
    )
    after = torch.cat([m.weight.detach().flatten() for m, _ in prunable_weights(t.module)])
    threshold = before.sort().values[round(0.6 * before.numel()) - 1]
    assert torch.all(after[before < threshold] == 0)
    assert torch.all(
        after[before > threshold]
        == torch.cat([m.weight.detach().flatten() for m, _ in prunable_weights(base.module)])[
            before > threshold
        ]
    )


def test_pruning_narrows_the_generalisation_gap() -> None:
    for seed in (0, 1):
        xtr, ytr, xte, yte = noisy_linear(seed)
        base = train_model("mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed)
        t = Pruning(sparsity=0.9, finetune_epochs=3).train(
            "mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed
        )
        gaps = [m.loss(xte, yte).mean() - m.loss(xtr, ytr).mean() for m in (t, base)]
        assert gaps[0] < 0.6 * gaps[1]


def test_cnn_conv_and_linear_weights_are_pruned() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 2, size=16)
    params = {"channels": [4], "hidden": 8, "epochs": 1}
    pr = Pruning(sparsity=0.5, finetune_epochs=1)
    t = pr.train("cnn", params, x, y, num_classes=2, seed=0)
    kinds = {type(m) for m, _ in prunable_weights(t.module)}
    assert kinds == {nn.Conv2d, nn.Linear}
    assert pr.sparsity_ == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sparsity": 1.0}, "sparsity"),
        ({"sparsity": -0.1}, "sparsity"),
        ({"sparsity": "half"}, "sparsity"),
        ({"finetune_epochs": -1}, "finetune_epochs"),
        ({"finetune_epochs": 1.5}, "finetune_epochs"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=20)
    with pytest.raises(ConfigError, match=match):
        Pruning(**kwargs).train("mlp", {"epochs": 1}, xtr, ytr, num_classes=2, seed=0)


def test_sklearn_model_is_rejected() -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=20)
    with pytest.raises(ConfigError, match="torch model"):
        Pruning().train("logistic_regression", {}, xtr, ytr, num_classes=2, seed=0)
