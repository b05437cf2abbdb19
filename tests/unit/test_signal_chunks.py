"""Signals computed in row chunks (issue 9 item 15: bounded temporaries at 200,000 x 100)
are bit-identical to one computation on all rows: every operation is row-wise."""

import numpy as np
import pytest

from miaudit.outputs import ModelOutputs, softmax
from miaudit.signals import SIGNALS, functions


def mixed_outputs(n: int, c: int, with_logits: bool, seed: int) -> ModelOutputs:
    """Outputs from unsaturated to far past saturation (margins up to 300), float32 logits."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, c))
    z[np.arange(n), rng.integers(0, c, n)] += rng.uniform(0.0, 300.0, n)
    z = z.astype(np.float32).astype(np.float64)
    y = rng.integers(0, c, n)
    if with_logits:
        return ModelOutputs.from_logits(z, y)
    return ModelOutputs(probs=softmax(z), y=y)


@pytest.mark.parametrize("with_logits", [True, False])
@pytest.mark.parametrize("c", [2, 10, 130])
def test_chunks_of_seven_rows_equal_one_chunk(monkeypatch, with_logits, c):
    out = mixed_outputs(100, c, with_logits, seed=c)
    whole = {name: f(out) for name, f in SIGNALS.items()}
    monkeypatch.setattr(functions, "CHUNK_BYTES", 7 * 8 * c)  # 7 rows per chunk
    for name, f in SIGNALS.items():
        np.testing.assert_array_equal(f(out), whole[name], err_msg=name)


def test_default_chunks_hold_a_bounded_number_of_rows():
    # 16 MiB per (rows x C) float64 temporary: 20,971 rows of 100 classes.
    assert functions.CHUNK_BYTES // (8 * 100) == 20_971


@pytest.mark.parametrize("with_logits", [True, False])
def test_peak_memory_does_not_grow_with_the_records(monkeypatch, with_logits):
    # 40,000 x 50 outputs: 16 MB per float64 (n x C) array. Unchunked, the precise signals
    # peaked at 17-50 MB from probabilities and 95-111 MB from logits (~7 such arrays at
    # once). With 1 MiB chunks they stay under 8 MB (~7 chunks' worth; the (n,) result and
    # index arrays add under 1 MB). numpy reports its allocations to tracemalloc.
    import tracemalloc

    out = mixed_outputs(40_000, 50, with_logits, seed=1)
    monkeypatch.setattr(functions, "CHUNK_BYTES", 2**20)
    for name, f in SIGNALS.items():
        tracemalloc.start()
        try:
            f(out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 12 * 2**20, (name, peak)
