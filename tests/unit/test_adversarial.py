"""FGSM / PGD boundary distances (miaudit.signals.adversarial) on a linear torch model."""

import numpy as np
import pytest
import torch

from miaudit.errors import ConfigError
from miaudit.signals.adversarial import fgsm_distance, pgd_distance

D = 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread avoids thread contention on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def linear():
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(D, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, D, generator=gen, dtype=torch.float64))
        model.bias.copy_(torch.randn(2, generator=gen, dtype=torch.float64))
    x = np.random.default_rng(1).normal(size=(50, D))
    with torch.no_grad():
        z = model(torch.from_numpy(x)).numpy()
    w = (model.weight[1] - model.weight[0]).detach().numpy()
    margin = np.abs(z[:, 1] - z[:, 0])
    return model, x, z.argmax(1), margin / np.linalg.norm(w), margin / np.abs(w).sum()


@pytest.mark.parametrize("fn", [fgsm_distance, pgd_distance])
def test_l2_distance_matches_the_analytic_one(linear, fn):
    model, x, y, l2, _ = linear
    d = fn(model, x, y, max_epsilon=50.0)
    assert d.dtype == np.float64 and d.shape == (len(y),)
    assert np.all(d >= l2 * (1 - 1e-9))
    np.testing.assert_allclose(d, l2, rtol=1e-3)


def test_fgsm_linf_distance_matches_the_analytic_one(linear):
    model, x, y, _, linf = linear
    d = fgsm_distance(model, x, y, max_epsilon=50.0, norm="linf")
    np.testing.assert_allclose(d, linf, rtol=1e-3)


def test_pgd_never_worse_than_fgsm_on_a_nonlinear_model():
    with torch.random.fork_rng(devices=[]):  # seeded weights, global RNG untouched
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
        ).double()
    x = np.random.default_rng(2).normal(size=(30, D))
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    f = fgsm_distance(model, x, y, max_epsilon=20.0)
    p = pgd_distance(model, x, y, max_epsilon=20.0)
    assert np.all(p <= f + 1e-12) and np.all(p > 0)
    assert np.mean(p < f * 0.999) > 0  # the search improves on the fast-gradient step


def test_misclassified_zero_unreachable_max_epsilon_and_mode_restored(linear):
    model, x, y, l2, _ = linear
    model.train()
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    d = pgd_distance(model, x, y2, max_epsilon=float(np.median(l2)))
    assert d[0] == 0
    far = l2[1:] > np.median(l2) * 1.01
    np.testing.assert_allclose(d[1:][far], np.median(l2))
    assert model.training


def test_bad_parameters(linear):
    model, x, y, _, _ = linear
    with pytest.raises(ConfigError, match="norm"):
        fgsm_distance(model, x, y, max_epsilon=1.0, norm="l1")
    with pytest.raises(ConfigError, match="max_epsilon"):
        pgd_distance(model, x, y, max_epsilon=0.0)
