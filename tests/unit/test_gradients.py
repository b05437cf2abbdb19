"""Per-record gradients and activations (miaudit.signals.gradients) against slow loops."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from miaudit.errors import DataError
from miaudit.models import CNN, MLP
from miaudit.signals.gradients import (
    activation_layer_names,
    layer_activations,
    per_sample_gradient_norms,
    per_sample_gradients,
    per_sample_losses,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread is fastest, and robust on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _module(kind: str, seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "mlp":
            return MLP(6, 3, hidden=(5, 4), dropout=0.3)
        return CNN(2, 8, 3, channels=(3, 4), hidden=5, dropout=0.3)


def _data(kind: str, n: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n, 6) if kind == "mlp" else (n, 2, 8, 8)
    return rng.normal(size=shape).astype(np.float32), rng.integers(0, 3, n)


def _loop_gradients(module, x, y):
    """The obviously-correct reference: one loss.backward() per record, in float64."""
    m = copy.deepcopy(module).double().eval()
    out = {n: [] for n, _ in m.named_parameters()}
    for i in range(len(y)):
        m.zero_grad()
        xi = torch.from_numpy(x[i : i + 1].astype(np.float64))
        F.cross_entropy(m(xi), torch.tensor([int(y[i])])).backward()
        for n, p in m.named_parameters():
            out[n].append(p.grad.detach().numpy().copy())
    return {n: np.stack(v) for n, v in out.items()}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_vectorised_gradients_match_loop(kind):
    module = _module(kind)
    x, y = _data(kind)
    ref = _loop_gradients(module, x, y)
    # float64 copy: agreement to 1e-10
    fast64 = per_sample_gradients(copy.deepcopy(module).double(), x, y, batch_size=3)
    assert list(fast64) == list(ref)
    for name, g in ref.items():
        assert fast64[name].shape == (len(y), *dict(module.named_parameters())[name].shape)
        np.testing.assert_allclose(fast64[name], g, rtol=1e-9, atol=1e-10)
    # the float32 module itself against the float64 loop: float32 round-off (~1e-7 of the
    # terms, grown by the layers' products), with room
    fast32 = per_sample_gradients(module, x, y, batch_size=4)
    for name, g in ref.items():
        np.testing.assert_allclose(fast32[name], g, rtol=1e-4, atol=1e-6)
    assert module.training  # mode restored (the module was built in train mode)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_gradient_norms_match_loop(kind):
    module = _module(kind).double()
    x, y = _data(kind, n=9, seed=1)
    ref = _loop_gradients(module, x, y)
    total, per = per_sample_gradient_norms(module, x, y, batch_size=4)
    expected_total = np.sqrt(sum((g.reshape(len(y), -1) ** 2).sum(1) for g in ref.values()))
    np.testing.assert_allclose(total, expected_total, rtol=1e-10)
    for layer, norms in per.items():
        g = [v for n, v in ref.items() if n.rpartition(".")[0] == layer]
        expected = np.sqrt(sum((v.reshape(len(y), -1) ** 2).sum(1) for v in g))
        np.testing.assert_allclose(norms, expected, rtol=1e-10)
    np.testing.assert_allclose(np.sqrt(sum(v**2 for v in per.values())), total, rtol=1e-10)
    assert list(per) == activation_layer_names(module)  # weight+bias per Linear/Conv layer
    t2, none = per_sample_gradient_norms(module, x, y, per_layer=False)
    np.testing.assert_allclose(t2, total, rtol=1e-12)
    assert none == {}


def test_subset_of_parameters():
    module = _module("mlp").double()
    x, y = _data("mlp")
    ref = _loop_gradients(module, x, y)
    got = per_sample_gradients(module, x, y, params=["net.7.weight"])
    assert list(got) == ["net.7.weight"]
    # float64, vectorised vs per-record order: ~1e-16 of the terms (|g| ~ 1); atol for entries
    # that cancel to near 0.
    np.testing.assert_allclose(got["net.7.weight"], ref["net.7.weight"], rtol=1e-9, atol=1e-12)
    with pytest.raises(DataError, match="unknown parameter"):
        per_sample_gradients(module, x, y, params=["nope"])


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_layer_activations(kind):
    module = _module(kind)
    x, y = _data(kind)
    acts = layer_activations(module, x, batch_size=3)
    names = activation_layer_names(module)
    assert len(acts) == len(names)
    with torch.no_grad():
        logits = module.eval()(torch.from_numpy(x)).numpy()
    # float32, batches of 3 vs one of 7: a few ulp of |z| < 2 (1.2e-7 each)
    np.testing.assert_allclose(acts[-1], logits, rtol=1e-5, atol=1e-6)
    assert acts[0].shape[0] == len(y)
    # losses agree with the logits
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    # float32 log-softmax computed two ways; losses ~1 at initialisation: a few ulp
    np.testing.assert_allclose(
        per_sample_losses(module, x, y), -lp[np.arange(len(y)), y], rtol=1e-5, atol=1e-6
    )


def test_errors():
    module = _module("mlp")
    x, y = _data("mlp")
    with pytest.raises(DataError, match="mismatched lengths"):
        per_sample_gradients(module, x, y[:-1])
    with pytest.raises(DataError, match="batch_size"):
        per_sample_gradient_norms(module, x, y, batch_size=0)
