"""Memory of an audit (issue 9 item 15): the population is queried only for attacks that
read it, and random queries are drawn without a float64 copy of the reference records.
Peak RSS at 200,000 records is measured by benchmarks/memory.py (BENCHMARKS.md)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import miaudit
from miaudit.pipeline import _queries as api
from miaudit.targets import as_target

THRESHOLD_ATTACKS = ["gap", "loss", "confidence", "entropy", "modified_entropy"]


def old_random_inputs(x_like, n, rng):
    """The implementation before issue 9 (a float64 copy of x_like), the oracle."""
    flat = x_like.reshape(len(x_like), -1).astype(np.float64)
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    binary = np.all((flat == 0) | (flat == 1), axis=0)
    u = rng.random((n, flat.shape[1]))
    x = np.where(binary, (u < 0.5).astype(np.float64), lo + u * (hi - lo))
    return x.reshape((n, *x_like.shape[1:])).astype(x_like.dtype)


def records(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * 3
    x[:, 0] = rng.integers(0, 2, x[:, 0].shape)  # a binary feature
    x[:, 1] = 1.0  # a constant feature
    return x.astype(dtype)


@pytest.mark.parametrize(
    ("dtype", "shape"),
    [
        (np.float32, (1000, 7)),
        (np.float64, (1000, 7)),
        (np.int64, (1000, 7)),
        (np.uint8, (1000, 7)),
        (np.float32, (300, 2, 3, 3)),
    ],
)
@pytest.mark.parametrize("chunk_bytes", [1, 100, 1 << 24])  # one row, a few rows, one chunk
def test_random_inputs_equal_the_float64_version_bit_for_bit(
    monkeypatch, dtype, shape, chunk_bytes
):
    monkeypatch.setattr(api, "_CHUNK_BYTES", chunk_bytes)
    x = (
        records(dtype, shape)
        if dtype != np.uint8
        else np.abs(records(np.int64, shape)).astype(dtype)
    )
    got = api.random_inputs(x, 50, np.random.default_rng(3))
    want = old_random_inputs(x, 50, np.random.default_rng(3))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_random_inputs_make_no_copy_of_the_records(monkeypatch):
    # before issue 9: a float64 copy (twice the float32 records' bytes) plus two boolean
    # arrays of the same shape; now chunks of _CHUNK_BYTES (1 MiB here) and their temporaries
    monkeypatch.setattr(api, "_CHUNK_BYTES", 1 << 20)
    x = records(np.float32, (40_000, 100))  # 16 MB
    tracemalloc.start()
    try:
        api.random_inputs(x, 100, np.random.default_rng(0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 2, f"random_inputs allocated {peak / 2**20:.1f} MiB"


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 6))
    y = (x[:, 0] + 0.3 * rng.normal(size=700) > 0).astype(np.int64)
    model = LogisticRegression().fit(x[:100], y[:100])
    return model, x, y


def test_threshold_attacks_do_not_query_the_population(problem):
    # before issue 9 the 500 population records were queried although no attack read them
    model, x, y = problem
    target = as_target(model)
    miaudit.audit(
        target,
        members=(x[:100], y[:100]),
        nonmembers=(x[100:200], y[100:200]),
        population=(x[200:], y[200:]),
        attacks=THRESHOLD_ATTACKS,
        random_queries=30,
        bootstrap=0,
        progress=False,
    )
    assert target.query_count == 100 + 100 + 30
