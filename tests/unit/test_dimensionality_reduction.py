"""Tests of the dimensionality-reduction (PCA) defense."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from miaudit.defenses.dimensionality_reduction import DimensionalityReduction, ProjectedModel
from miaudit.errors import ConfigError
from miaudit.targets import SklearnTarget, TorchTarget


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def low_rank(seed: int = 0, n: int = 80, d: int = 12, k: int = 3):
    """Records near a k-dimensional subspace; the label depends on the subspace coordinates."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k))
    x = (z @ rng.normal(size=(k, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    y = (z[:, 0] > 0).astype(np.int64)
    return x, y


def test_mlp_target_projects_inputs_first() -> None:
    x, y = low_rank()
    dr = DimensionalityReduction(n_components=3)
    t = dr.train("mlp", {"hidden": [16], "epochs": 30, "lr": 1e-2}, x, y, num_classes=2, seed=0)
    assert isinstance(t, TorchTarget) and isinstance(t.module, ProjectedModel)
    p = t.predict_proba(x)
    assert p.shape == (80, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert (p.argmax(axis=1) == y).mean() > 0.9
    assert t.module[2].input_dim == 3
    assert "PCA(12->3)" in t.description
    # the projection layer is the fitted PCA transform, frozen
    pca = PCA(n_components=3, random_state=0).fit(x.astype(np.float64))
    proj = t.module[1]
    with torch.no_grad():
        got = proj(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.abs(got), np.abs(pca.transform(x)), atol=1e-4)
    assert not proj.weight.requires_grad and not proj.bias.requires_grad
    trainable = [n for n, p in t.module.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("2.") for n in trainable)
    assert dr.n_components_ == 3 and dr.explained_variance_ > 0.95
    rep = dr.report()
    assert rep["explained_variance"] == dr.explained_variance_
    assert rep["params"] == {"n_components": 3}


def test_images_are_flattened() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    t = DimensionalityReduction(n_components=5).train(
        "mlp", {"hidden": [8], "epochs": 2}, x, y, num_classes=3, seed=0
    )
    assert t.predict_proba(x).shape == (30, 3)


def test_deterministic() -> None:
    x, y = low_rank()
    params = {"hidden": [16], "epochs": 3}
    p1 = DimensionalityReduction(n_components=4).train("mlp", params, x, y, num_classes=2, seed=1)
    p2 = DimensionalityReduction(n_components=4).train("mlp", params, x, y, num_classes=2, seed=1)
    assert p1.predict_proba(x).tobytes() == p2.predict_proba(x).tobytes()


@pytest.mark.parametrize("model", ["logistic_regression", "random_forest"])
def test_sklearn_models_get_a_pipeline(model: str) -> None:
    x, y = low_rank()
    params = {"n_estimators": 10} if model == "random_forest" else {}
    dr = DimensionalityReduction(n_components=2)
    t = dr.train(model, params, x, y, num_classes=2, seed=0)
    assert isinstance(t, SklearnTarget) and isinstance(t.estimator, Pipeline)
    p = t.predict_proba(x)
    assert p.shape == (80, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    t2 = DimensionalityReduction(n_components=2).train(model, params, x, y, num_classes=2, seed=0)
    assert p.tobytes() == t2.predict_proba(x).tobytes()
    assert t.estimator[0].n_components_ == 2


def test_variance_share() -> None:
    x, y = low_rank()
    dr = DimensionalityReduction(n_components=0.9)
    dr.train("logistic_regression", {}, x, y, num_classes=2, seed=0)
    assert dr.explained_variance_ >= 0.9
    assert 1 <= dr.n_components_ <= 3


@pytest.mark.parametrize(
    ("n_components", "match"),
    [
        (0, "n_components"),
        (13, "n_components"),
        (1.0, "n_components"),
        ("all", "n_components"),
        (True, "n_components"),
    ],
)
def test_bad_parameters(n_components: object, match: str) -> None:
    x, y = low_rank()
    with pytest.raises(ConfigError, match=match):
        DimensionalityReduction(n_components=n_components).train(
            "mlp", {"epochs": 1}, x, y, num_classes=2, seed=0
        )


def test_cnn_is_rejected() -> None:
    x = np.zeros((10, 1, 4, 4), dtype=np.float32)
    y = np.arange(10) % 2
    with pytest.raises(ConfigError, match="cnn"):
        DimensionalityReduction(n_components=2).train("cnn", {}, x, y, num_classes=2, seed=0)
