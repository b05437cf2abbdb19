"""Signal functions. References: Yeom et al. 2018 (loss), Salem et al. 2019 (max posterior),
Song & Mittal 2021 (entropy, modified entropy), Carlini et al. 2022 (logit-scaled confidence).

Precision at saturation (issue 9, item 4). A model trained to zero loss gives many records
a true-class probability within 1e-16 of 1. Computed naively, ``logsumexp(z) - z_y`` and
``log p`` round to exactly 0 once the logit margin exceeds about 37, and hundreds of
members and non-members tie at the top score. Here every log-probability is computed from
argmax-centred logits, ``log p_c = e_c - log1p(sum_{i != m} exp(e_i))`` with
``e = z - max(z)`` (exact differences of float32 logits in float64), and every complement
``log(1 - p_c)`` without forming ``1 - p_c``: for the top class it is
``logsumexp_{i != m}(e_i) - log1p(sum_{i != m} exp(e_i))``, for the others (p <= 1/2)
``log1p(-p_c)``. Every signal below is then a sum of non-negative terms, so its relative
error is a few float64 ulps times the margin (about 1e-13 at margin 200, tested against
mpmath), and distinct float32 margins give distinct, correctly ordered values:

* loss, entropy: exact ranking up to margins of about 708 (values >= float64's smallest
  normal number exp(-708)); beyond that subnormal and coarser, and 0 past about 745.
* modified entropy: ~ exp(-2 * margin), so exact ranking up to margins of about 354, 0 past
  about 372.
* scaled logit (LiRA's phi): unchanged, it was already exact from logits (its value is
  about -margin, it never underflows).
* true-class and max confidence are probabilities: in float64 they round to exactly 1.0
  beyond a margin of about 37 whatever the computation. The ``confidence`` attack therefore
  scores :func:`max_confidence_log_odds`, ``log p_max - log(1 - p_max)``, an
  increasing function of the max posterior that stays exact at any margin (the
  ``calibrated_confidence`` attack keeps the probability and its ties, see its class).

With probabilities only (scikit-learn targets, ``PrecomputedTarget`` without logits,
inference-time defenses), ``1 - p`` of a top probability near 1 is quantized (at 1.1e-16 in
float64, 6e-8 in float32) and exactly 0 once p rounds to 1.0. What the rounding took
survives in the other classes' small probabilities, which keep their relative precision
in a softmax computed in float32 or float64: where they sum to ``1 - p`` up to rounding
(``ROW_SUM_TOL``) and ``1 - p`` has lost more than 33 bits (p > 1 - 2**-20 in float64; any
p > 1/2 for float32 values), their sum is used as ``1 - p`` in ``log p`` and ``log(1 - p)``,
so such records keep an exact ranking too, until the small probabilities underflow (margins of
~745 in float64, ~100 in float32). Where the others are 0 as well (a binary scikit-learn
classifier returns ``[1 - p, p]``, so class 0 reads exactly 0 when p rounds to 1; rounded
or top-1 outputs) the information is gone and those records tie at the top; no
computation can recover it: give logits (``PrecomputedTarget(logits=...)``, a torch target)
to rank them. ``log p`` is floored at ``log(EPS)`` as before, so from probabilities the loss
and the modified entropy of a record whose true class gets less than 1e-30 are capped (at
the bottom of the ranking), and the scaled logit at 69.1 (LiRA's Gaussians need moderate
values; the authors' code caps at 103.6 with 1e-45).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from miaudit.outputs import ModelOutputs

# Smallest probability used inside logarithms when only probabilities are known (the loss
# of a record whose true class gets less is capped at -log(EPS) = 69.1).
EPS = 1e-30
_TINY = float(np.finfo(np.float64).tiny)
#: A row whose top probability p > 1/2 and whose other entries sum to ``rest`` with
#: ``|p + rest - 1| <= ROW_SUM_TOL`` is a correctly rounded probability vector (a few float32
#: roundings: 2**-21 = 4.8e-7); its ``1 - p`` is then taken to be ``rest``. Rows further from
#: summing to 1 (the check on ModelOutputs allows 1e-3) keep the formula on p.
ROW_SUM_TOL = 2.0**-21
#: The log-odds that a float64 max posterior of exactly 1.0 stands for. miaudit's float64
#: softmax gives the top class 1 / (1 + r), r = sum_{i != m} exp(z_i - z_m) = (1 - p) / p,
#: and 1 + r rounds to 1 when r <= 2**-53, i.e. from log-odds -log(r) = 53 ln 2 = 36.74 on
#: (up to the rounding of its own sum, which can drop a few other classes' terms first).
SATURATED_LOG_ODDS = 53.0 * math.log(2.0)
#: Log-odds given, from probabilities only, to a row whose top probability is 1.0 and whose
#: other classes are all exactly 0: above every finite value a float64 row can express
#: (the smallest positive float64, 2**-1074, as the others' sum gives log-odds 744.4).
PROB_LOG_ODDS_CAP = 745.0
#: Bytes of one float64 (rows x C) temporary per chunk of the signal computations (issue 9
#: item 15): the precise forms allocate several such arrays, which for 200,000 x 100 outputs
#: made the peak of the audit; in chunks of 16 MiB (20,971 rows of 100 classes) their sum
#: no longer grows with the number of records, and chunks stay large enough that the
#: per-chunk overhead is negligible.
CHUNK_BYTES = 16 * 2**20

_RowKernel = Callable[[np.ndarray, np.ndarray | None, np.ndarray], np.ndarray]


def _true_class(outputs: ModelOutputs) -> np.ndarray:
    return outputs.probs[np.arange(outputs.n), outputs.y]


def _by_rows(outputs: ModelOutputs, kernel: _RowKernel) -> np.ndarray:
    """``kernel(probs, logits, y)`` on row chunks of ``outputs``, float64 (n,).

    Chunks hold :data:`CHUNK_BYTES` per (rows x C) float64 array, so the kernels'
    temporaries take bounded memory. Every operation in a kernel is row-wise, so the
    result is bit-identical to one call on all rows (tested with 7-row chunks)."""
    n, c = outputs.probs.shape
    step = max(1, CHUNK_BYTES // (8 * c))
    if n <= step:
        return kernel(outputs.probs, outputs.logits, outputs.y)
    result = np.empty(n)
    for start in range(0, n, step):
        rows = slice(start, start + step)
        logits = None if outputs.logits is None else outputs.logits[rows]
        result[rows] = kernel(outputs.probs[rows], logits, outputs.y[rows])
    return result


def _centred_logits(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(e, m, t)``: e = z - max_c z_c (exact for float32 logits), m = argmax,
    t = logsumexp_{i != m} e_i = log((1 - p_m) / p_m), finite for any margin."""
    idx = np.arange(z.shape[0])
    m = np.argmax(z, axis=1)
    e = z - z[idx, m][:, None]
    others = e.copy()
    others[idx, m] = -np.inf
    # summed in sorted order, so that permuted logits give the same bits (see _sum_sorted)
    return e, m, logsumexp(np.sort(others, axis=1), axis=1)


def _log_probs_from_logits(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log p (n, C), log(1 - p) (n, C))`` from logits, both precise at any margin
    (see the module docstring)."""
    idx = np.arange(z.shape[0])
    e, m, t = _centred_logits(z)
    neg_log_p_top = np.logaddexp(0.0, t)  # log1p(sum_{i != m} exp(e_i)) = -log p_m
    log_p = e - neg_log_p_top[:, None]
    p_others = np.exp(log_p)
    p_others[idx, m] = 0.0
    log_q = np.log1p(-p_others)  # p_c <= 1/2 for c != m: log1p keeps every digit
    log_q[idx, m] = t - neg_log_p_top  # log(1 - p_m) without forming 1 - p_m
    return log_p, log_q


def _top_and_rest(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(idx, m, top, rest)``: row indices, top class, its probability, and the other
    classes' sum (which keeps the digits that ``1 - top`` loses near 1)."""
    idx = np.arange(probs.shape[0])
    m = np.argmax(probs, axis=1)
    others = probs.copy()
    others[idx, m] = 0.0
    return idx, m, probs[idx, m], others.sum(axis=1)


def _near_one(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, m, rest)``: the rows whose top probability p_m > 1/2 is complemented by the
    other classes (a positive sum ``rest`` within ``ROW_SUM_TOL`` of ``1 - p_m``), their top
    class, and that sum, used as 1 - p_m.

    ``1 - p_m`` formed in floating point is quantized at the spacing below 1 (2**-53 in
    float64, 2**-24 in float32: a relative error of 2**-53 / (1 - p_m)) and exactly 0 once
    p_m rounds to 1, while the small probabilities keep their relative precision. On rows
    far from saturation both are equally good (the values change in the last bits)."""
    idx, m, top, rest = _top_and_rest(probs)
    near = (top > 0.5) & (rest > 0.0) & (np.abs(top + rest - 1.0) <= ROW_SUM_TOL)
    # Only where 1 - p_m has lost more than 33 bits to the spacing of p near 1 (2**-53, or
    # 2**-24 for rows whose values are all float32 numbers: a float32 softmax): elsewhere
    # ``1 - p_m`` is precise and a function of p_m alone, while the rest's rounding differs
    # between rows with equal p_m (vote shares 0.9 = 0.03 + 0.07 vs 0.05 + 0.05) and would
    # break their exact ties at random (issue 9 item 4 follow-up).
    float32_rows = np.all(probs.astype(np.float32) == probs, axis=1)
    spacing = np.where(float32_rows, 2.0**-24, 2.0**-53)
    near &= (1.0 - top) < spacing * 2.0**33
    return idx[near], m[near], rest[near]


def _log_probs_from_probs(probs: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """``(log p, log(1 - p))`` from probabilities: the formulas on p (floored at ``floor``),
    except that near 1 the top class's complement is the other classes' sum
    (:func:`_near_one`)."""
    log_p = np.log(np.maximum(probs, floor))
    log_q = np.log1p(-np.minimum(probs, 0.5))  # exact for p <= 1/2 ...
    big = probs > 0.5
    log_q[big] = np.log(np.maximum(1.0 - probs[big], EPS))  # ... else as before, unless:
    rows, m, rest = _near_one(probs)
    log_p[rows, m] = np.log1p(-rest)
    log_q[rows, m] = np.log(rest)
    return log_p, log_q


def _log_probs(
    probs: np.ndarray, logits: np.ndarray | None, floor: float = EPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p, log p, log(1 - p))``, each float64 (n, C), from the logits when given, else
    from the probabilities (floored at ``floor`` inside the logarithm)."""
    if logits is not None:
        log_p, log_q = _log_probs_from_logits(logits)
        return np.exp(log_p), log_p, log_q
    log_p, log_q = _log_probs_from_probs(probs, floor)
    return probs, log_p, log_q


def _log_true_class(probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """log f(x)_y, float64 (n,), precise when f(x)_y is near or rounds to 1 (module docstring)."""
    idx = np.arange(probs.shape[0])
    if logits is not None:
        e, m, t = _centred_logits(logits)
        return e[idx, y] - np.logaddexp(0.0, t)
    log_p = np.log(np.maximum(probs[idx, y], EPS))
    rows, m, rest = _near_one(probs)
    top = y[rows] == m
    log_p[rows[top]] = np.log1p(-rest[top])
    return log_p


def _loss_rows(probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    return -_log_true_class(probs, logits, y)


def loss(outputs: ModelOutputs) -> np.ndarray:
    """Cross-entropy loss -log f(x)_y, precise at saturation.

    From logits it is ``log1p(sum_{i != m} exp(z_i - z_m)) + z_m - z_y`` with m the top class
    (for y = m: ``log1p(sum_{i != y} exp(z_i - z_y))``, about ``exp(-margin)``), not
    ``logsumexp(z) - z_y``, which rounds to 0 beyond a margin of ~37 and ties every such
    record. See the module docstring for the range and the probability-only case."""
    return _by_rows(outputs, _loss_rows)


def true_class_confidence(outputs: ModelOutputs) -> np.ndarray:
    """f(x)_y, the probability of the true class (1.0 beyond a logit margin of ~37: a
    probability cannot say more in float64; use :func:`loss` to rank such records)."""
    return _true_class(outputs).copy()


def max_confidence(outputs: ModelOutputs) -> np.ndarray:
    """max_c f(x)_c, the largest posterior (ML-Leaks adversary 3, survey eq. 1); 1.0 beyond a
    logit margin of ~37, as :func:`true_class_confidence`."""
    return outputs.probs.max(axis=1)


def probability_log_odds(p: np.ndarray | float) -> np.ndarray:
    """``log p - log(1 - p)`` of probabilities p in (0, 1], float64, with 1.0 mapped to
    :data:`SATURATED_LOG_ODDS` (the log-odds from which float64 reads a max posterior as
    1.0). Strictly increasing below 1 (``1 - p`` is exact for p >= 1/2); the transform of
    a threshold on the max posterior into a threshold on :func:`max_confidence_log_odds`."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, SATURATED_LOG_ODDS)
    below = p < 1.0
    with np.errstate(divide="ignore"):  # p = 0 -> -inf, a threshold every record passes
        out[below] = np.log(p[below]) - np.log1p(-p[below])
    return out


def _max_log_odds_from_probs(probs: np.ndarray) -> np.ndarray:
    """Log-odds of the max posterior from probabilities only.

    ``log p_max - log(rest)`` with ``rest`` the other classes' sum where p_max > 1 - 2**-20
    and the row is a correctly rounded probability vector (as :func:`_near_one`): there
    ``1 - p_max`` has lost more than 20 of its 53 bits, which the small probabilities keep
    (down to 2**-1074). :data:`PROB_LOG_ODDS_CAP` where p_max is 1.0 and the others are all
    0 (nothing is left to rank by). Else the transform of p_max itself
    (:func:`probability_log_odds`): below 1 - 2**-20 its float64 value tells continuous
    outputs apart, and the rest's rounding would only break the ties of discrete ones (a
    random forest's vote shares) at random."""
    _, _, top, rest = _top_and_rest(probs)
    odds = probability_log_odds(top)
    near = (top > 1.0 - 2.0**-20) & (rest > 0.0) & (np.abs(top + rest - 1.0) <= ROW_SUM_TOL)
    odds[near] = np.log(top[near]) - np.log(rest[near])
    odds[(top == 1.0) & (rest == 0.0)] = PROB_LOG_ODDS_CAP
    return odds


def max_confidence_log_odds(outputs: ModelOutputs) -> np.ndarray:
    """Log-odds of the max posterior, ``log p_max - log(1 - p_max)``, precise at any margin.

    An increasing function of the max posterior (:func:`max_confidence`): it orders records
    as the max posterior does wherever float64 tells their max posteriors apart, and keeps
    ordering them where it does not: p_max is exactly 1.0 beyond a logit margin of ~37
    (issue 9 item 4: a model trained to zero loss ties hundreds of members and non-members
    there). Exact values also correct the order of max posteriors within 1e-13 of 1, which
    float64 rounds to a few bits.

    From logits it is ``z_m - logsumexp_{i != m} z_i`` (m the top class), exact for any
    margin (about the margin itself at saturation). From probabilities only, see
    :func:`_max_log_odds_from_probs`. Where the float64 max posterior reads exactly 1.0 the
    value is at least :data:`SATURATED_LOG_ODDS`, the transform of 1.0: a row rounded to 1.0
    (by a float32 softmax, or by the float64 softmax's own sum, up to ~1.5 nats below
    53 ln 2 with 10 classes) ranks above every row that reads less, as it did, and the
    decision "max posterior >= 1.0" is "log-odds >= SATURATED_LOG_ODDS"."""
    return _by_rows(outputs, _max_log_odds_rows)


def _max_log_odds_rows(probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    if logits is not None:
        _, _, t = _centred_logits(logits)
        odds = -t
    else:
        odds = _max_log_odds_from_probs(probs)
    saturated = probs.max(axis=1) == 1.0
    odds[saturated] = np.maximum(odds[saturated], SATURATED_LOG_ODDS)
    return odds


def entropy(outputs: ModelOutputs) -> np.ndarray:
    """Shannon entropy -sum_c f(x)_c log f(x)_c of the prediction (nats).

    A sum of non-negative terms with precise log-probabilities, so it keeps its relative
    precision as it tends to 0 (about margin * exp(-margin) at saturation)."""
    return _by_rows(outputs, _entropy_rows)


def _entropy_rows(probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    # p log p -> 0 as p -> 0: floor at the smallest normal float, not EPS, whose log (-69)
    # would understate the terms that make up a saturated row's entropy.
    p, log_p, _ = _log_probs(probs, logits, floor=_TINY)
    return -_sum_sorted(p * log_p)


def _sum_sorted(terms: np.ndarray) -> np.ndarray:
    """Row sums in a canonical (sorted) order: rows that hold the same terms in another
    class order get the same float64 sum, so records with equal entropy tie exactly instead
    of differing in the last bit (which decides TPR at low FPR among tied records)."""
    return np.sort(terms, axis=1).sum(axis=1)


def modified_entropy(outputs: ModelOutputs) -> np.ndarray:
    """Song & Mittal 2021, eq. (8): -(1-p_y) log p_y - sum_{i!=y} p_i log(1-p_i).

    Computed in log space (``1 - p_y`` and ``log(1 - p_i)`` without cancellation), so it
    keeps its relative precision as it tends to 0 (about exp(-2 * margin) at saturation)."""
    return _by_rows(outputs, _modified_entropy_rows)


def _modified_entropy_rows(
    probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray
) -> np.ndarray:
    idx = np.arange(probs.shape[0])
    p, log_p, log_q = _log_probs(probs, logits)
    first = -np.exp(log_q[idx, y]) * log_p[idx, y]
    other = p * log_q
    other[idx, y] = 0.0
    return first - _sum_sorted(other)


def scaled_logit(outputs: ModelOutputs) -> np.ndarray:
    """LiRA's phi = log f(x)_y - log(1 - f(x)_y) (Carlini et al. 2022, sec. 4.2).

    From logits it is computed stably as z_y - logsumexp_{i != y} z_i, exact even when
    f(x)_y rounds to 1 in floating point. From probabilities the second term is the log of
    the other classes' sum, which keeps its precision when f(x)_y rounds to 1.
    """
    return _by_rows(outputs, _scaled_logit_rows)


def _scaled_logit_rows(probs: np.ndarray, logits: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    idx = np.arange(probs.shape[0])
    if logits is not None:
        z = logits.copy()
        z_y = z[idx, y].copy()
        z[idx, y] = -np.inf
        return z_y - logsumexp(z, axis=1)
    p = probs.copy()
    p_y = p[idx, y].copy()
    p[idx, y] = 0.0
    rest = p.sum(axis=1)
    return np.log(np.maximum(p_y, EPS)) - np.log(np.maximum(rest, EPS))


def correctness(outputs: ModelOutputs) -> np.ndarray:
    """1.0 where the predicted label equals the true label, else 0.0 (Yeom's gap attack)."""
    return (outputs.predicted == outputs.y).astype(np.float64)


SIGNALS: dict[str, Callable[[ModelOutputs], np.ndarray]] = {
    "loss": loss,
    "true_class_confidence": true_class_confidence,
    "max_confidence": max_confidence,
    "max_confidence_log_odds": max_confidence_log_odds,
    "entropy": entropy,
    "modified_entropy": modified_entropy,
    "scaled_logit": scaled_logit,
    "correctness": correctness,
}
