"""What the audit asks the target: its outputs on the audited records (with augmented views
for LiRA) and on random inputs (ML-Leaks adversary 3)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from miaudit.outputs import ModelOutputs, concat_outputs
from miaudit.pipeline._records import Inputs
from miaudit.targets import Target

_CHUNK_BYTES = 1 << 24


@dataclass(frozen=True)
class Queried:
    """The target's outputs on the audited records (members first) and its accuracies.

    For a target without probabilities (a label-only or top-k API), ``audited`` holds its
    predicted labels as one-hot probability vectors: read only by attacks whose scoring
    needs the label alone (``Needs.labels_suffice``, the gap attack); label-only attacks
    query the target themselves, and every other attack is refused before any query.
    """

    audited: ModelOutputs | None
    membership: np.ndarray
    train_accuracy: float
    test_accuracy: float


def query_target(target: Target, inputs: Inputs, augment: Any) -> Queried:
    """The target's outputs on the members, then the non-members, with the views of
    ``augment`` (``views(x)``; only when an attack reads them, see
    :mod:`miaudit.pipeline._scoring_plan`; None for none). A label-only target is asked
    for its labels only."""
    if "probabilities" not in target.capabilities:
        return _query_labels(target, inputs)
    out_in = target_outputs(target, inputs.x_in, inputs.y_in, augment)
    out_out = target_outputs(target, inputs.x_out, inputs.y_out, augment)
    train_accuracy = float(np.mean(out_in.predicted == out_in.y))
    test_accuracy = float(np.mean(out_out.predicted == out_out.y))
    membership = np.concatenate([np.ones(out_in.n, bool), np.zeros(out_out.n, bool)])
    # `audited` holds a copy of both; the two go when this returns (issue 9 item 15)
    audited = concat_outputs([out_in, out_out])
    return Queried(audited, membership, train_accuracy, test_accuracy)


def _query_labels(target: Target, inputs: Inputs) -> Queried:
    """A label-only target's labels on the members and the non-members (one query each),
    as one-hot outputs, and its accuracies."""
    label_in = np.asarray(target.predict_labels(inputs.x_in))
    label_out = np.asarray(target.predict_labels(inputs.x_out))
    train_accuracy = float(np.mean(label_in == inputs.y_in))
    test_accuracy = float(np.mean(label_out == inputs.y_out))
    membership = np.concatenate(
        [np.ones(len(inputs.y_in), bool), np.zeros(len(inputs.y_out), bool)]
    )
    labels = np.concatenate([label_in, label_out]).astype(np.int64)
    y = np.concatenate([inputs.y_in, inputs.y_out]).astype(np.int64)
    classes = max(int(target.num_classes), int(labels.max()) + 1, int(y.max()) + 1)
    one_hot = np.zeros((labels.size, classes))
    one_hot[np.arange(labels.size), labels] = 1.0
    return Queried(ModelOutputs(probs=one_hot, y=y), membership, train_accuracy, test_accuracy)


def target_outputs(target: Target, x: np.ndarray, y: np.ndarray, augment: Any) -> ModelOutputs:
    """The target's outputs, with augmented views attached when augmenting (LiRA)."""
    base = target.outputs(x, y)
    if augment is None:
        return base
    views = tuple(target.outputs(v, y) for v in augment(x))
    return replace(base, augmented=views)


def query_random_inputs(
    target: Target, x_like: np.ndarray, n: int, rng: np.random.Generator
) -> ModelOutputs | None:
    """The target's outputs on ``n`` random inputs in the range of ``x_like`` (None: n = 0)."""
    if n == 0:
        return None
    probs = target.predict_proba(random_inputs(x_like, n, rng))
    return ModelOutputs(probs=probs, y=np.argmax(probs, axis=1))


def random_inputs(x_like: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random inputs in the per-feature range of ``x_like`` (ML-Leaks adversary 3).

    Binary features (only 0/1 seen) are drawn as fair coin flips. The range and the binary
    test are computed chunk by chunk in ``x_like``'s own dtype (min and max commute with the
    exact, monotone conversion to float64, so the values equal those of a float64 copy):
    a float64 copy of a 160,000-record population cost 768 MB (issue 9 item 15).
    """
    from miaudit.resources import random_queries_bytes, require_memory

    count = len(x_like)
    width = int(np.prod(x_like.shape[1:], dtype=np.int64))
    require_memory(
        random_queries_bytes(n, width),
        f"{n:,} random queries of {width:,} features",
        "lower random_queries (evaluation.random_queries in a config)",
    )
    step = max(1, _CHUNK_BYTES // max(width * x_like.itemsize, 1))
    lo = hi = binary = None
    for start in range(0, count, step):
        block = x_like[start : start + step].reshape(-1, width)
        b_lo, b_hi = block.min(axis=0), block.max(axis=0)
        b_bin = np.all((block == 0) | (block == 1), axis=0)
        if lo is None:
            lo, hi, binary = b_lo, b_hi, b_bin
        else:
            lo, hi, binary = np.minimum(lo, b_lo), np.maximum(hi, b_hi), binary & b_bin
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    u = rng.random((n, width))
    x = np.where(binary, (u < 0.5).astype(np.float64), lo + u * (hi - lo))
    return x.reshape((n, *x_like.shape[1:])).astype(x_like.dtype)
