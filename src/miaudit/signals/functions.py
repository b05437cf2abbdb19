"""Signal functions. References: Yeom et al. 2018 (loss), Salem et al. 2019 (max posterior),
Song & Mittal 2021 (entropy, modified entropy), Carlini et al. 2022 (logit-scaled confidence)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from miaudit.outputs import ModelOutputs

# Smallest probability used inside logarithms when only probabilities are known.
EPS = 1e-30


def _true_class(outputs: ModelOutputs) -> np.ndarray:
    return outputs.probs[np.arange(outputs.n), outputs.y]


def loss(outputs: ModelOutputs) -> np.ndarray:
    """Cross-entropy loss -log f(x)_y (from logits when available, exact for tiny probabilities)."""
    if outputs.logits is not None:
        z = outputs.logits
        return logsumexp(z, axis=1) - z[np.arange(outputs.n), outputs.y]
    return -np.log(np.maximum(_true_class(outputs), EPS))


def true_class_confidence(outputs: ModelOutputs) -> np.ndarray:
    """f(x)_y, the probability of the true class."""
    return _true_class(outputs).copy()


def max_confidence(outputs: ModelOutputs) -> np.ndarray:
    """max_c f(x)_c, the largest posterior (ML-Leaks adversary 3, survey eq. 1)."""
    return outputs.probs.max(axis=1)


def entropy(outputs: ModelOutputs) -> np.ndarray:
    """Shannon entropy -sum_c f(x)_c log f(x)_c of the prediction (nats)."""
    p = outputs.probs
    return -np.sum(p * np.log(np.maximum(p, EPS)), axis=1)


def modified_entropy(outputs: ModelOutputs) -> np.ndarray:
    """Song & Mittal 2021, eq. (8): -(1-p_y) log p_y - sum_{i!=y} p_i log(1-p_i)."""
    p = outputs.probs
    idx = np.arange(outputs.n)
    p_y = p[idx, outputs.y]
    log_p_y = -loss(outputs)  # exact from logits when available
    log_one_minus = np.log(np.maximum(1.0 - p, EPS))
    other = p * log_one_minus
    other[idx, outputs.y] = 0.0
    return -(1.0 - p_y) * log_p_y - other.sum(axis=1)


def scaled_logit(outputs: ModelOutputs) -> np.ndarray:
    """LiRA's phi = log f(x)_y - log(1 - f(x)_y) (Carlini et al. 2022, sec. 4.2).

    From logits it is computed stably as z_y - logsumexp_{i != y} z_i, exact even when
    f(x)_y rounds to 1 in floating point.
    """
    idx = np.arange(outputs.n)
    if outputs.logits is not None:
        z = outputs.logits.copy()
        z_y = z[idx, outputs.y].copy()
        z[idx, outputs.y] = -np.inf
        return z_y - logsumexp(z, axis=1)
    p = outputs.probs.copy()
    p_y = p[idx, outputs.y].copy()
    p[idx, outputs.y] = 0.0
    rest = p.sum(axis=1)
    return np.log(np.maximum(p_y, EPS)) - np.log(np.maximum(rest, EPS))


def correctness(outputs: ModelOutputs) -> np.ndarray:
    """1.0 where the predicted label equals the true label, else 0.0 (Yeom's gap attack)."""
    return (outputs.predicted == outputs.y).astype(np.float64)


SIGNALS: dict[str, Callable[[ModelOutputs], np.ndarray]] = {
    "loss": loss,
    "true_class_confidence": true_class_confidence,
    "max_confidence": max_confidence,
    "entropy": entropy,
    "modified_entropy": modified_entropy,
    "scaled_logit": scaled_logit,
    "correctness": correctness,
}
