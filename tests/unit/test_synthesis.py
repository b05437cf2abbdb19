"""Shadow-data synthesis (Shokri et al. 2017, sec. V-C)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.errors import ConfigError, DataError

# Loaded by file path so these tests do not depend on the rest of miaudit.reference.
_PATH = Path(__file__).resolve().parents[2] / "src" / "miaudit" / "reference" / "synthesis.py"
_spec = importlib.util.spec_from_file_location("_miaudit_synthesis_under_test", _PATH)
syn = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = syn
_spec.loader.exec_module(syn)

D = 12
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def binary_model():
    """Logistic regression on binary records whose class is set by feature blocks."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(600, D)).astype(float)
    y = np.argmax(
        x.reshape(600, NUM_CLASSES, D // NUM_CLASSES).sum(axis=2) + rng.random((600, 3)) * 0.5,
        axis=1,
    )
    return LogisticRegression(max_iter=2000).fit(x, y)


class CountingQuery:
    def __init__(self, model):
        self.model = model
        self.records = 0
        self.calls = 0

    def __call__(self, x):
        self.records += x.shape[0]
        self.calls += 1
        return self.model.predict_proba(x)


def test_noisy_records_flip_binary_and_resample_others():
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 2, (50, 10)), rng.normal(size=(50, 10))])
    noisy = syn.noisy_records(x, fraction=0.25, rng=np.random.default_rng(2))
    changed = noisy != x
    assert noisy.shape == x.shape and x is not noisy
    assert np.all(changed.sum(axis=1) <= 5)  # round(0.25 * 20) features re-sampled per record
    assert changed.sum() > 0.8 * 50 * 5 * 0.5  # binary flips always change
    # binary columns: flipped values stay binary; others come from the column's values
    assert set(np.unique(noisy[:, :10])) <= {0.0, 1.0}
    for j in range(10, 20):
        assert np.isin(noisy[:, j], x[:, j]).all()
    np.testing.assert_array_equal(syn.noisy_records(x, fraction=0.0, rng=rng), x)
    with pytest.raises(ConfigError, match="fraction"):
        syn.noisy_records(x, fraction=2.0, rng=rng)


def test_noisy_records_exact_count_on_binary_data():
    x = np.random.default_rng(3).integers(0, 2, (40, 20)).astype(float)
    noisy = syn.noisy_records(x, fraction=0.1, rng=np.random.default_rng(4))
    np.testing.assert_array_equal((noisy != x).sum(axis=1), 2)


def test_statistics_synthesis_samples_marginals():
    rng = np.random.default_rng(5)
    x = np.column_stack([rng.integers(0, 2, 400) * (rng.random(400) < 0.3), rng.normal(3, 1, 400)])
    s = syn.statistics_synthesis(x, 5000, rng=np.random.default_rng(6))
    assert s.shape == (5000, 2)
    assert np.isin(s[:, 0], x[:, 0]).all() and np.isin(s[:, 1], x[:, 1]).all()
    assert abs(s[:, 0].mean() - x[:, 0].mean()) < 0.03
    assert abs(s[:, 1].mean() - x[:, 1].mean()) < 0.1
    with pytest.raises(DataError, match="2-D"):
        syn.statistics_synthesis(np.ones(3), 2, rng=rng)


def test_hill_climb_finds_confident_records(binary_model):
    query = CountingQuery(binary_model)
    for c in range(NUM_CLASSES):
        x, queries = syn.hill_climb(query, D, c, rng=np.random.default_rng(c), conf_min=0.7)
        assert x is not None and set(np.unique(x)) <= {0.0, 1.0}
        p = binary_model.predict_proba(x[None, :])[0]
        assert p[c] > 0.7 and np.argmax(p) == c
        assert 1 <= queries <= syn.DEFAULT_ITER_MAX
    assert query.records == query.calls  # one record per query


def test_hill_climb_reports_failure():
    def impossible(x):
        return np.tile([0.5, 0.5], (x.shape[0], 1))

    x, queries = syn.hill_climb(
        impossible, 4, 0, rng=np.random.default_rng(0), conf_min=0.9, iter_max=30
    )
    assert x is None and queries == 30


@pytest.mark.parametrize("binary", [True, False])
def test_batched_climbs_match_one_record_climbs_exactly(binary_model, binary):
    params = {
        "k_max": 6,
        "k_min": 1,
        "conf_min": 0.8,
        "rej_max": 3,
        "iter_max": 60,
        "binary": binary,
    }
    wanted = np.array([0, 1, 2, 0, 1, 2, 2, 1])
    seeds = np.random.default_rng(11).spawn(wanted.size)
    slow = [
        syn.hill_climb(binary_model.predict_proba, D, int(c), rng=g, **params)
        for c, g in zip(wanted, seeds, strict=True)
    ]
    query = CountingQuery(binary_model)
    fast = syn.hill_climb_batch(
        query, D, wanted, rngs=np.random.default_rng(11).spawn(wanted.size), **params
    )
    for i, (x, q) in enumerate(slow):
        assert fast.success[i] == (x is not None)
        assert fast.queries[i] == q
        if x is not None:
            np.testing.assert_array_equal(fast.x[i], x)
    assert query.records == fast.queries.sum()
    assert query.calls <= params["iter_max"]  # one batched query per step
    assert fast.success.sum() >= 4


def test_model_synthesis_per_class_and_queries(binary_model):
    query = CountingQuery(binary_model)
    res = syn.model_synthesis(query, 10, NUM_CLASSES, D, rng=np.random.default_rng(0), conf_min=0.6)
    assert res.x.shape == (30, D) and np.bincount(res.y).tolist() == [10, 10, 10]
    p = binary_model.predict_proba(res.x)
    assert np.all(p[np.arange(30), res.y] > 0.6)
    assert np.all(np.argmax(p, axis=1) == res.y)
    assert res.queries == query.records and res.attempts >= 30
    again = syn.model_synthesis(
        binary_model.predict_proba, 10, NUM_CLASSES, D, rng=np.random.default_rng(0), conf_min=0.6
    )
    np.testing.assert_array_equal(again.x, res.x)


def test_model_synthesis_shortfall_is_a_clear_error():
    def flat(x):
        return np.full((x.shape[0], 2), 0.5)

    with pytest.raises(DataError, match="lower conf_min"):
        syn.model_synthesis(flat, 2, 2, 4, rng=np.random.default_rng(0), iter_max=5, max_rounds=2)
    res = syn.model_synthesis(
        flat, 2, 2, 4, rng=np.random.default_rng(0), iter_max=5, max_rounds=2, allow_fewer=True
    )
    assert res.x.shape == (0, 4) and res.attempts == 8 and res.queries == 40


def test_bad_climb_parameters():
    with pytest.raises(ConfigError, match="k_min <= k_max"):
        syn.hill_climb(lambda x: x, 4, 0, rng=np.random.default_rng(0), k_max=9)
