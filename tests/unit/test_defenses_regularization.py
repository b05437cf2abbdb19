"""Tests of the regularisation defenses (l2, dropout, early_stopping, label_smoothing) and of
their shared setup (miaudit.defenses._training.prepare_torch + miaudit.models.train_torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from miaudit.defenses._training import prepare_torch
from miaudit.defenses.base import Defense
from miaudit.defenses.regularization import (
    Dropout,
    EarlyStopping,
    L2Regularization,
    LabelSmoothing,
    smoothed_cross_entropy,
)
from miaudit.errors import ConfigError
from miaudit.models import TrainConfig, train_model, train_torch
from miaudit.targets import Target, TorchTarget

PARAMS = {"hidden": [64], "epochs": 60, "lr": 1e-2, "batch_size": 32}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is fastest and most stable."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def noisy_linear(seed: int, n: int = 120, d: int = 20):
    """A noisy linear problem a 64-unit MLP overfits in 60 epochs (train, test halves)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, d)).astype(np.float32)
    w = rng.normal(size=d)
    y = ((x @ w + 2.0 * rng.normal(size=2 * n)) > 0).astype(np.int64)
    return x[:n], y[:n], x[n:], y[n:]


def loss_gap(target: Target, xtr, ytr, xte, yte) -> float:
    """Mean test loss minus mean training loss (what the loss attack exploits)."""
    return float(target.loss(xte, yte).mean() - target.loss(xtr, ytr).mean())


ALL = [
    L2Regularization(weight_decay=1e-2),
    Dropout(rate=0.3),
    EarlyStopping(patience=2),
    LabelSmoothing(smoothing=0.2),
]


@pytest.mark.parametrize("defense", ALL, ids=lambda d: d.name)
def test_trains_a_deterministic_probability_target(defense: Defense) -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=60)
    params = {**PARAMS, "epochs": 8}
    t1 = defense.train("mlp", params, xtr, ytr, num_classes=2, seed=3)
    t2 = type(defense)(**defense.get_params()).train("mlp", params, xtr, ytr, num_classes=2, seed=3)
    p1, p2 = t1.predict_proba(xtr), t2.predict_proba(xtr)
    assert isinstance(t1, TorchTarget)
    assert p1.shape == (60, 2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, atol=1e-9)
    assert p1.tobytes() == p2.tobytes()
    t3 = defense.train("mlp", params, xtr, ytr, num_classes=2, seed=4)
    assert not np.array_equal(p1, t3.predict_proba(xtr))
    rep = defense.report()
    assert rep["name"] == defense.name and rep["kind"] == "training"
    assert rep["params"] == defense.get_params()
    assert defense.strength_param in rep["params"]


def test_cnn_is_supported() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=24)
    params = {"channels": [4], "hidden": 8, "epochs": 2}
    t = Dropout(rate=0.5).train("cnn", params, x, y, num_classes=3, seed=0)
    assert t.predict_proba(x).shape == (24, 3)
    assert any(isinstance(m, nn.Dropout) for m in t.module.modules())


def test_zero_strength_is_the_undefended_model() -> None:
    """The defenses train with train_torch: l2 with weight_decay 0 == train_model, bytewise."""
    xtr, ytr, xte, _ = noisy_linear(1, n=60)
    params = {**PARAMS, "epochs": 5}
    base = train_model("mlp", params, xtr, ytr, num_classes=2, seed=7)
    for defense in (L2Regularization(weight_decay=0.0), LabelSmoothing(smoothing=0.0)):
        t = defense.train("mlp", params, xtr, ytr, num_classes=2, seed=7)
        assert t.predict_proba(xte).tobytes() == base.predict_proba(xte).tobytes()


def test_defense_training_leaves_global_rng_untouched() -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=30)
    setup = prepare_torch(
        "mlp", {"epochs": 1, "hidden": [4]}, xtr, ytr, num_classes=2, seed=0, defense="t"
    )
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_torch(setup.module, setup.x, setup.y, TrainConfig(epochs=1, seed=0))
    train_torch(
        setup.module,
        setup.x,
        setup.y,
        TrainConfig(epochs=3, seed=1),
        reinit=False,
        on_epoch_end=lambda epoch, _loss: epoch == 2,
    )
    for d in ALL:
        d.train("mlp", {**PARAMS, "epochs": 3}, xtr, ytr, num_classes=2, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_l2_shrinks_weights_and_the_generalisation_gap() -> None:
    for seed in (0, 1):
        xtr, ytr, xte, yte = noisy_linear(seed)
        base = train_model("mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed)
        l2 = L2Regularization(weight_decay=0.05)
        t = l2.train("mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed)
        with torch.no_grad():
            base_norm = float(torch.sqrt(sum((p**2).sum() for p in base.module.parameters())))
        assert l2.weight_norm_ < base_norm
        assert loss_gap(t, xtr, ytr, xte, yte) < 0.6 * loss_gap(base, xtr, ytr, xte, yte)
        assert "weight_norm" in l2.report()


def test_dropout_modules_present() -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=30)
    d = Dropout(rate=0.4)
    t = d.train("mlp", {"hidden": [8, 8], "epochs": 1}, xtr, ytr, num_classes=2, seed=0)
    drops = [m for m in t.module.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(m.p == 0.4 for m in drops)
    assert d.report()["dropout_layers"] == 2
    assert not t.module.training  # queries are deterministic (dropout off)


def test_early_stopping_stops_early_and_narrows_the_gap() -> None:
    for seed in (0, 1):
        xtr, ytr, xte, yte = noisy_linear(seed)
        base = train_model("mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed)
        es = EarlyStopping(patience=3)
        t = es.train("mlp", PARAMS, xtr, ytr, num_classes=2, seed=seed)
        assert 1 <= es.epochs_trained_ < es.stopped_epoch_ < PARAMS["epochs"]
        assert es.stopped_epoch_ - es.epochs_trained_ == 3
        assert loss_gap(t, xtr, ytr, xte, yte) < 0.6 * loss_gap(base, xtr, ytr, xte, yte)
        rep = es.report()
        assert rep["epochs_trained"] == es.epochs_trained_
        assert rep["best_validation_loss"] == es.best_validation_loss_


def test_early_stopping_refit_is_training_on_all_records_for_the_chosen_epochs() -> None:
    xtr, ytr, xte, _ = noisy_linear(0)
    es = EarlyStopping(patience=2)
    t = es.train("mlp", PARAMS, xtr, ytr, num_classes=2, seed=5)
    params = {**PARAMS, "epochs": es.epochs_trained_}
    direct = train_model("mlp", params, xtr, ytr, num_classes=2, seed=5)
    assert t.predict_proba(xte).tobytes() == direct.predict_proba(xte).tobytes()


def test_early_stopping_without_refit_restores_best_weights() -> None:
    xtr, ytr, _, _ = noisy_linear(0)
    es = EarlyStopping(patience=2, refit=False)
    t = es.train("mlp", PARAMS, xtr, ytr, num_classes=2, seed=5)
    # the restored model's validation loss is the best one recorded
    n_val = round(0.2 * len(xtr))
    val = np.random.default_rng(5).permutation(len(xtr))[:n_val]
    assert t.loss(xtr[val], ytr[val]).mean() == pytest.approx(es.best_validation_loss_, rel=1e-5)


def test_label_smoothing_loss_equals_the_formula() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 4))
    y = rng.integers(0, 4, size=7)
    s = 0.3
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.full((7, 4), s / 4)
    target[np.arange(7), y] += 1 - s
    expected = float(np.mean(-(target * logp).sum(axis=1)))
    got = float(smoothed_cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), s))
    assert got == pytest.approx(expected, rel=1e-12)


def test_label_smoothing_caps_training_confidence() -> None:
    """The smoothed loss is minimised at p_y = 1 - s + s/C: members stop reaching p = 1."""
    xtr, ytr, _, _ = noisy_linear(0)
    base = train_model("mlp", PARAMS, xtr, ytr, num_classes=2, seed=0)
    s = 0.3
    t = LabelSmoothing(smoothing=s).train("mlp", PARAMS, xtr, ytr, num_classes=2, seed=0)
    conf = t.predict_proba(xtr).max(axis=1)
    assert base.predict_proba(xtr).max(axis=1).mean() > 0.98
    assert conf.mean() < 1 - s + s / 2 + 0.03


@pytest.mark.parametrize(
    ("defense", "match"),
    [
        (L2Regularization(weight_decay=-1.0), "weight_decay"),
        (L2Regularization(weight_decay="big"), "weight_decay"),
        (Dropout(rate=1.0), "rate"),
        (Dropout(rate=-0.1), "rate"),
        (EarlyStopping(patience=0), "patience"),
        (EarlyStopping(patience=2.5), "patience"),
        (EarlyStopping(validation_fraction=1.0), "validation_fraction"),
        (EarlyStopping(validation_fraction=0.001), "validation_fraction"),
        (LabelSmoothing(smoothing=1.0), "smoothing"),
        (LabelSmoothing(smoothing=float("nan")), "smoothing"),
    ],
)
def test_bad_parameters(defense: Defense, match: str) -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=20)
    with pytest.raises(ConfigError, match=match):
        defense.train("mlp", {"epochs": 1}, xtr, ytr, num_classes=2, seed=0)


def test_sklearn_models_and_conflicts_are_rejected() -> None:
    xtr, ytr, _, _ = noisy_linear(0, n=20)
    with pytest.raises(ConfigError, match="torch model"):
        L2Regularization().train("logistic_regression", {}, xtr, ytr, num_classes=2, seed=0)
    with pytest.raises(ConfigError, match="conflicts"):
        L2Regularization(weight_decay=0.1).train(
            "mlp", {"weight_decay": 0.5}, xtr, ytr, num_classes=2, seed=0
        )
    with pytest.raises(ConfigError, match="unknown parameter"):
        Dropout().train("mlp", {"bogus": 1}, xtr, ytr, num_classes=2, seed=0)
