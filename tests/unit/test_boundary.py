"""HopSkipJump boundary distance (miaudit.signals.boundary) against a known linear boundary."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.errors import ConfigError
from miaudit.signals.boundary import hop_skip_jump, hop_skip_jump_distance
from miaudit.targets import LabelOnlyTarget, SklearnTarget

D = 10


@pytest.fixture(scope="module")
def linear():
    """A fitted 2-class logistic model; its boundary w.x + b = 0 is known exactly."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, D))
    y = (x @ rng.normal(size=D) + 0.3 * rng.normal(size=400) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    w, b = model.coef_[0], model.intercept_[0]
    records = rng.normal(size=(60, D))
    truth = np.abs(records @ w + b) / np.linalg.norm(w)
    return model, records, truth


def _target(model, budget=None):
    return LabelOnlyTarget(SklearnTarget(model), max_queries=budget)


def test_distances_close_to_the_analytic_distance_and_never_below(linear):
    model, x, truth = linear
    y = model.predict(x)
    res = hop_skip_jump(
        _target(model).predict_labels, x, y, max_queries_per_record=300, clip_min=-6, clip_max=6
    )
    assert res.found.all()
    ratio = res.distances / truth
    # an adversarial point's distance is an upper bound on the boundary distance
    assert ratio.min() >= 1 - 1e-9
    assert np.median(ratio) < 1.1 and np.quantile(ratio, 0.9) < 1.25
    # the returned points really are labelled differently from y
    assert np.all(model.predict(res.adversarial) != y)
    np.testing.assert_allclose(np.linalg.norm(res.adversarial - x, axis=1), res.distances)


def test_more_queries_tighten_the_estimate(linear):
    model, x, truth = linear
    y = model.predict(x)
    medians = []
    for q in (50, 150, 500):
        d, _ = hop_skip_jump_distance(
            model.predict, x, y, max_queries_per_record=q, clip_min=-6, clip_max=6
        )
        medians.append(np.median(d / truth))
    assert medians[0] > medians[1] > medians[2]
    assert medians[2] < 1.05


@pytest.mark.parametrize("budget", [1, 9, 37, 120])
def test_budget_is_respected_exactly(linear, budget):
    model, x, _ = linear
    y = model.predict(x)
    target = _target(model, budget * len(y))
    d, used = hop_skip_jump_distance(
        target.predict_labels, x, y, max_queries_per_record=budget, clip_min=-6, clip_max=6
    )
    assert used.dtype == np.int64 and used.max() <= budget
    assert target.query_count == used.sum()
    assert np.all(np.isfinite(d)) and d.dtype == np.float64


def test_misclassified_records_get_zero_after_one_query(linear):
    model, x, _ = linear
    y = model.predict(x)
    y_wrong = y.copy()
    y_wrong[:10] = 1 - y_wrong[:10]
    d, used = hop_skip_jump_distance(
        model.predict, x, y_wrong, max_queries_per_record=100, clip_min=-6, clip_max=6
    )
    assert np.all(d[:10] == 0) and np.all(used[:10] == 1)
    assert np.all(d[10:] > 0)


def test_known_starts_save_queries_and_keep_the_upper_bound(linear):
    model, x, truth = linear
    y = model.predict(x)
    pool = np.random.default_rng(5).normal(size=(100, D))
    res = hop_skip_jump(
        model.predict, x, y, max_queries_per_record=200, starts=(pool, model.predict(pool)),
        clip_min=-6, clip_max=6,
    )  # fmt: skip
    assert res.found.all() and np.all(res.distances >= truth * (1 - 1e-9))
    assert np.median(res.distances / truth) < 1.2


def test_deterministic_and_independent_of_batching(linear):
    model, x, _ = linear
    y = model.predict(x)
    kw = {"max_queries_per_record": 80, "clip_min": -6, "clip_max": 6, "seed": 3}
    a = hop_skip_jump_distance(model.predict, x, y, **kw)
    b = hop_skip_jump_distance(model.predict, x, y, batch=7, **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_image_shaped_records_and_no_adversarial_start():
    x = np.full((3, 1, 2, 2), 0.5)
    y = np.zeros(3, dtype=int)
    # a constant model: no adversarial point exists; distance = the clip box diameter
    d, used = hop_skip_jump_distance(
        lambda z: np.zeros(len(z), int), x, y, max_queries_per_record=5, clip_min=0, clip_max=1
    )
    np.testing.assert_allclose(d, 2.0)
    assert np.all(used == 5)


def test_bad_parameters():
    x, y = np.zeros((2, 3)), np.zeros(2, int)
    with pytest.raises(ConfigError, match="max_queries_per_record"):
        hop_skip_jump_distance(lambda z: y, x, y, max_queries_per_record=0)
    with pytest.raises(ConfigError, match="l2"):
        hop_skip_jump_distance(lambda z: y, x, y, max_queries_per_record=5, norm="linf")
