"""FGSM / PGD / C&W-L2 boundary distances (miaudit.signals.adversarial) on a linear torch model."""

import numpy as np
import pytest
import torch

from miaudit.errors import ConfigError
from miaudit.signals.adversarial import cw_l2_distance, fgsm_distance, pgd_distance

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


CW = {"steps": 300, "binary_search_steps": 9}


def test_cw_l2_matches_the_analytic_distance_and_beats_pgd(linear):
    """Linear model: the exact L2 distance is |w.x + b| / ||w||. C&W (Adam, constant
    learning rate) hovers around it; the line search along its perturbation closes most of
    the gap. It is never below the exact distance (every returned point is adversarial)."""
    model, x, y, l2, _ = linear
    d = cw_l2_distance(model, x, y, max_epsilon=50.0, **CW)
    assert d.dtype == np.float64 and d.shape == (len(y),)
    assert np.all(d >= l2 * (1 - 1e-9))
    np.testing.assert_allclose(d, l2, rtol=5e-3, atol=5e-5)
    assert np.median(np.abs(d / l2 - 1)) < 1e-4
    # at most PGD's distance (exact on a linear model up to its bisection), same tolerance
    p = pgd_distance(model, x, y, max_epsilon=50.0)
    assert np.all(d <= p * (1 + 5e-3) + 5e-5)


def test_cw_l2_perturbation_flips_the_label_and_is_deterministic():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
        ).double()
    x = np.random.default_rng(2).normal(size=(30, D))
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    y[0] = (y[0] + 1) % 3  # misclassified: distance 0, the record itself
    kw = {"max_epsilon": 20.0, "steps": 300}
    d, adv = cw_l2_distance(model, x, y, return_adversarial=True, **kw)
    assert adv.shape == x.shape and d[0] == 0 and np.all(adv[0] == x[0])
    with torch.no_grad():
        pred = model(torch.from_numpy(adv)).argmax(1).numpy()
    assert np.all(pred[1:] != y[1:])
    np.testing.assert_allclose(d[1:], np.linalg.norm(adv - x, axis=1)[1:], rtol=1e-12)
    # minimal-norm attack: shorter than PGD on average on a nonlinear model (not on every
    # record: Adam with a constant step can stop short of PGD's bisection on some)
    p = pgd_distance(model, x, y, max_epsilon=20.0)
    assert d[1:].mean() <= p[1:].mean()
    # deterministic; batched differently, equal up to floating-point summation order
    np.testing.assert_array_equal(cw_l2_distance(model, x, y, **kw), d)
    np.testing.assert_allclose(cw_l2_distance(model, x, y, batch_size=7, **kw), d, rtol=1e-9)


@pytest.mark.parametrize("box", ["tanh", "clip"])
def test_cw_l2_stays_in_the_box_and_failures_get_max_epsilon(linear, box):
    model, x, y, l2, _ = linear
    lo, hi = x.min(0), x.max(0)
    d, adv = cw_l2_distance(
        model, x, y, max_epsilon=50.0, clip_min=lo, clip_max=hi, box=box, return_adversarial=True
    )
    assert np.all(adv >= lo) and np.all(adv <= hi)
    assert np.all(d >= l2 * (1 - 1e-9))
    with torch.no_grad():
        pred = model(torch.from_numpy(adv)).argmax(1).numpy()
    assert np.all((pred != y) | (d == 50.0))
    # a budget below every record's distance: all get max_epsilon, and the mode is restored
    model.train()
    small = float(l2.min()) / 2
    np.testing.assert_array_equal(cw_l2_distance(model, x, y, max_epsilon=small), small)
    assert model.training
    model.eval()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"binary_search_steps": 0}, "binary_search_steps"),
        ({"initial_const": 0.0}, "initial_const"),
        ({"lr": -1.0}, "lr"),
        ({"kappa": -1.0}, "kappa"),
        ({"box": "sigmoid"}, "box"),
        ({"n_refine": -1}, "n_refine"),
        ({"max_epsilon": float("nan")}, "max_epsilon"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_cw_l2_bad_parameters(linear, kw, match):
    model, x, y, _, _ = linear
    with pytest.raises(ConfigError, match=match):
        cw_l2_distance(model, x, y, **{"max_epsilon": 1.0, **kw})
