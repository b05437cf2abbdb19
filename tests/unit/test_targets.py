"""Unit tests for miaudit.targets: adapters, capabilities, query counting, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from torch import nn

from miaudit.errors import DataError, MiauditError
from miaudit.outputs import ModelOutputs
from miaudit.targets import (
    CapabilityError,
    LabelOnlyTarget,
    PrecomputedTarget,
    SklearnTarget,
    Target,
    TorchTarget,
    as_target,
)


def _linear(in_dim: int = 5, classes: int = 3, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    m = nn.Linear(in_dim, classes)
    with torch.no_grad():
        m.weight.copy_(torch.randn(classes, in_dim, generator=g))
        m.bias.copy_(torch.randn(classes, generator=g))
    return m


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    return x, y


class NaNModule(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], 3)
        out[0, 1] = float("nan")
        return out


def test_torch_target_outputs_match_module(data):
    x, y = data
    module = _linear()
    t = TorchTarget(module, batch_size=7)
    logits = t.predict_logits(x)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).double().numpy()
    # float32 matmul in batches of 7 vs one batch of 40: another blocking or CPU kernel rounds
    # differently, by an ulp or two of the |logits| < 8 (4.8e-7 each; seen 1.08e-6 relative).
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=5e-6)
    assert logits.dtype == np.float64 and logits.shape == (40, 3)
    probs = t.predict_proba(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    labels = t.predict_labels(x)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected.argmax(axis=1))
    out = t.outputs(x, y)
    assert isinstance(out, ModelOutputs) and out.logits is not None
    assert t.num_classes == 3
    assert t.capabilities == {"probabilities", "logits", "labels", "loss", "parameters"}


def test_torch_target_loss_is_cross_entropy(data):
    x, y = data
    module = _linear()
    t = as_target(module)
    with torch.no_grad():
        ref = nn.functional.cross_entropy(
            module(torch.from_numpy(x)).double(), torch.from_numpy(y), reduction="none"
        ).numpy()
    # The same float32 logits may come from another blocking (4096-record batches vs one
    # call) and the loss of a well-classified record is small: a few ulp of |z| < 8.
    np.testing.assert_allclose(t.loss(x, y), ref, rtol=1e-5, atol=5e-6)


def test_torch_target_restores_training_mode(data):
    module = _linear()
    module.train()
    TorchTarget(module).predict_proba(data[0])
    assert module.training


def test_query_counting(data):
    x, y = data
    t = as_target(_linear())
    t.predict_proba(x)
    t.predict_logits(x[:5])
    t.predict_labels(x[:3])
    t.outputs(x[:10], y[:10])
    t.loss(x[:2], y[:2])
    assert t.query_count == 40 + 5 + 3 + 10 + 2
    t.reset_queries()
    assert t.query_count == 0


def test_torch_target_wrong_shape_is_data_error(data):
    t = as_target(_linear(), num_classes=3)
    with pytest.raises(DataError, match=r"rejected records of shape \(4, 7\)"):
        t.predict_proba(np.zeros((4, 7), dtype=np.float32))


def test_torch_target_accepts_lists_and_float64(data):
    t = as_target(_linear())
    p1 = t.predict_proba(data[0].astype(np.float64))
    p2 = t.predict_proba(data[0].tolist())
    np.testing.assert_array_equal(p1, p2)


class Wrapped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _linear(classes=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_torch_target_infers_classes():
    assert TorchTarget(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 6))).num_classes == 6


def test_torch_target_infers_classes_lazily(data):
    t = TorchTarget(Wrapped())
    with pytest.raises(DataError, match="num_classes"):
        _ = t.num_classes
    t.predict_logits(data[0])
    assert t.num_classes == 4


def test_nan_outputs_give_data_error(data):
    x, y = data
    t = TorchTarget(NaNModule(), num_classes=3)
    with pytest.raises(DataError, match="NaN"):
        t.outputs(x, y)


def test_sklearn_target_maps_missing_class(data):
    x, y = data
    y_train = np.where(y == 1, 0, y)  # class 1 never seen in training
    est = LogisticRegression(max_iter=200).fit(x, y_train)
    t = SklearnTarget(est, num_classes=4)
    probs = t.predict_proba(x)
    assert probs.shape == (40, 4)
    np.testing.assert_array_equal(probs[:, 1], 0.0)
    np.testing.assert_array_equal(probs[:, 3], 0.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[:, [0, 2]], est.predict_proba(x))
    np.testing.assert_array_equal(t.predict_labels(x), est.predict(x))
    assert t.capabilities == {"probabilities", "labels", "loss"}
    with pytest.raises(CapabilityError, match="does not expose logits"):
        t.predict_logits(x)
    out = t.outputs(x, y)  # true label 1 has probability 0: loss stays finite
    assert np.all(np.isfinite(t.loss(x, y))) and out.probs.shape == (40, 4)


def test_sklearn_target_default_classes_and_description(data):
    x, y = data
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    t = as_target(est)
    assert isinstance(t, SklearnTarget)
    assert t.num_classes == 3
    assert t.description == "sklearn RandomForestClassifier"
    np.testing.assert_allclose(t.predict_proba(x).sum(axis=1), 1.0)


def test_sklearn_target_errors(data):
    x, y = data
    with pytest.raises(DataError, match="not fitted"):
        SklearnTarget(LogisticRegression())
    est = LogisticRegression(max_iter=200).fit(x, y)
    with pytest.raises(DataError, match="fitted on class 2"):
        SklearnTarget(est, num_classes=2)
    with pytest.raises(DataError, match="rejected records"):
        SklearnTarget(est).predict_proba(np.zeros((2, 9)))
    with pytest.raises(DataError, match="integer class indices"):
        SklearnTarget(LogisticRegression(max_iter=200).fit(x, np.array(["a", "b"] * 20)))


def test_label_only_hides_probabilities(data):
    x, y = data
    inner = as_target(_linear())
    t = LabelOnlyTarget(inner)
    assert t.capabilities == {"labels"}
    np.testing.assert_array_equal(t.predict_labels(x), inner.predict_labels(x))
    for call in (t.predict_proba, t.predict_logits):
        with pytest.raises(CapabilityError, match="does not expose"):
            call(x)
    with pytest.raises(CapabilityError):
        t.outputs(x, y)
    with pytest.raises(CapabilityError):
        t.loss(x, y)
    assert t.query_count == 40
    assert t.num_classes == 3
    assert t.description.startswith("label-only torch")


def test_precomputed_lookup(data):
    x, y = data
    src = as_target(_linear())
    logits = src.predict_logits(x)
    t = PrecomputedTarget(x, logits=logits)
    order = np.random.default_rng(1).permutation(40)[:15]
    np.testing.assert_array_equal(t.predict_logits(x[order]), logits[order])  # a lookup
    # src queried on 15 rows vs the table from 40: float32 matmuls blocked differently differ
    # by an ulp or two of the logits (|z| < 8), i.e. relative ~1e-6 in the probabilities.
    np.testing.assert_allclose(t.predict_proba(x[order]), src.predict_proba(x[order]), rtol=1e-5)
    out = t.outputs(x[order], y[order])
    assert out.logits is not None
    # float64 records equal after float32 conversion are found too
    np.testing.assert_allclose(
        t.predict_proba(x[:3].astype(np.float64)), src.predict_proba(x[:3]), rtol=1e-5
    )  # 3 rows vs 40: as above
    assert t.query_count == 15 + 15 + 15 + 3


def test_precomputed_unknown_record_and_shapes(data):
    x, _ = data
    probs = np.full((40, 3), 1 / 3)
    t = PrecomputedTarget(x, probs=probs)
    assert "logits" not in t.capabilities
    with pytest.raises(DataError, match="record not in the precomputed outputs"):
        t.predict_proba(x[:2] + 1.0)
    with pytest.raises(DataError, match="shape"):
        t.predict_proba(np.zeros((2, 4)))
    with pytest.raises(DataError, match="sum to 1"):
        PrecomputedTarget(x, probs=np.ones((40, 3)))
    with pytest.raises(DataError, match="needs probs"):
        PrecomputedTarget(x)
    with pytest.raises(DataError, match="do not match"):
        PrecomputedTarget(x, probs=probs[:5])


def test_as_target_dispatch_and_errors(data):
    t = as_target(_linear())
    assert isinstance(t, TorchTarget)
    assert as_target(t) is t
    with pytest.raises(DataError, match="num_classes=5"):
        as_target(t, num_classes=5)
    with pytest.raises(DataError, match="cannot audit a str"):
        as_target("model.pt")
    with pytest.raises(MiauditError, match="predict_proba"):
        as_target(object())


def test_outputs_label_checks(data):
    x, y = data
    t = as_target(_linear())
    with pytest.raises(DataError, match="mismatched lengths"):
        t.outputs(x, y[:3])
    assert t.query_count == 0
    with pytest.raises(DataError, match="outside the classes"):
        t.outputs(x, np.full(40, 7))


def test_target_is_abstract():
    with pytest.raises(TypeError):
        Target(frozenset())  # type: ignore[abstract]
