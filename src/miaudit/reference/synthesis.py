"""Shadow training data when the attacker lacks real data: Shokri et al. 2017, "Membership
Inference Attacks against Machine Learning Models" (IEEE S&P), sec. V-C.

Three sources besides the attacker's own real records (``data_source="population"``):

* :func:`noisy_records` -- "noisy real data": real records with a fraction of their features
  re-sampled (the paper flips 10% or 20% of the binary features).
* :func:`statistics_synthesis` -- "statistics-based synthesis": features sampled from their
  marginal distributions.
* :func:`model_synthesis` -- "model-based synthesis": hill climbing on the target model's
  confidence, their Algorithm 1 (:func:`hill_climb` is the one-record form, kept as the
  slow, obviously-correct reference for the batched :func:`hill_climb_batch`).

All randomness comes from an explicit :class:`numpy.random.Generator`. This module imports
nothing from the rest of :mod:`miaudit.reference` (it is pure NumPy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from miaudit.errors import ConfigError, DataError

QueryFn = Callable[[np.ndarray], np.ndarray]

# miaudit's defaults for Algorithm 1. The paper does not print one setting for every data
# set; these are documented starting points, not the paper's numbers.
DEFAULT_K_MIN = 1
DEFAULT_CONF_MIN = 0.5
DEFAULT_REJ_MAX = 10
DEFAULT_ITER_MAX = 200


def _as_records(x: np.ndarray, what: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{what} must be a 2-D (records, features) array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{what} has no records")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{what} contains NaN or inf")
    return x


def binary_columns(x: np.ndarray) -> np.ndarray:
    """Bool (d,): the features whose every value is 0 or 1."""
    x = np.asarray(x)
    return np.all((x == 0) | (x == 1), axis=0)


def noisy_records(x: np.ndarray, *, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy copies of real records (Shokri et al. 2017, sec. V-C, "noisy real data").

    For each record, ``round(fraction * d)`` of its d features, chosen uniformly without
    replacement and independently per record, are re-sampled: a binary feature (every value
    of that column in ``x`` is 0 or 1) is flipped, as in the paper's experiments ("we flip
    the binary values of 10% or 20% randomly selected features"); any other feature gets a
    value drawn from its empirical marginal in ``x`` (the paper only describes binary
    features; drawing from the marginal keeps the value in the feature's domain).

    Args:
        x: (n, d) real records.
        fraction: share of features re-sampled per record, in [0, 1].
        rng: source of randomness.

    Returns:
        float64 (n, d) noisy records; ``x`` is not modified.
    """
    x = _as_records(x)
    if not 0.0 <= float(fraction) <= 1.0:
        raise ConfigError(f"noisy_records: fraction must be in [0, 1], got {fraction}")
    n, d = x.shape
    k = int(round(float(fraction) * d))
    out = x.copy()
    if k == 0:
        return out
    # k features per record: the k smallest of d uniform keys (a uniform k-subset).
    keys = rng.random((n, d))
    chosen = np.argpartition(keys, k - 1, axis=1)[:, :k]
    mask = np.zeros((n, d), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    donors = rng.integers(0, n, size=(n, d))
    marginal = x[donors, np.arange(d)]
    binary = binary_columns(x)
    replacement = np.where(binary[None, :], 1.0 - x, marginal)
    out[mask] = replacement[mask]
    return out


def statistics_synthesis(x: np.ndarray, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Records whose features are sampled independently from their marginals (Shokri et al.
    2017, sec. V-C, "statistics-based synthesis").

    The paper assumes the attacker knows the marginal distribution of each feature; here the
    marginals are the empirical ones of ``x`` (each feature of each new record is a value of
    that column of a uniformly chosen record of ``x``), so correlations between features are
    deliberately lost, as in the paper. For class-conditional marginals, call this once per
    class on that class's records; labels are the caller's business.

    Args:
        x: (m, d) records giving the marginals.
        n: number of records to synthesize.
        rng: source of randomness.

    Returns:
        float64 (n, d) synthetic records.
    """
    x = _as_records(x)
    if int(n) < 0:
        raise ConfigError(f"statistics_synthesis: n must be >= 0, got {n}")
    m, d = x.shape
    rows = rng.integers(0, m, size=(int(n), d))
    return x[rows, np.arange(d)]


def _check_climb_params(
    n_features: int, k_max: int, k_min: int, conf_min: float, rej_max: int, iter_max: int
) -> None:
    if n_features < 1:
        raise ConfigError(f"hill climbing: n_features must be >= 1, got {n_features}")
    if not 1 <= k_min <= k_max <= n_features:
        raise ConfigError(
            f"hill climbing: need 1 <= k_min <= k_max <= n_features, got k_min={k_min}, "
            f"k_max={k_max}, n_features={n_features}"
        )
    if not 0.0 <= conf_min < 1.0:
        raise ConfigError(f"hill climbing: conf_min must be in [0, 1), got {conf_min}")
    if rej_max < 0 or iter_max < 1:
        raise ConfigError(
            f"hill climbing: need rej_max >= 0 and iter_max >= 1, got {rej_max}, {iter_max}"
        )


def _default_k_max(n_features: int) -> int:
    # miaudit's default: start by changing half the features (random search at first,
    # local search once k has shrunk).
    return max(1, int(math.ceil(n_features / 2)))


def _random_record(g: np.random.Generator, n_features: int, binary: bool) -> np.ndarray:
    """RANDRECORD(): binary features uniform in {0, 1}, others uniform in [0, 1)."""
    if binary:
        return g.integers(0, 2, size=n_features).astype(np.float64)
    return g.random(n_features)


def _randomize(g: np.random.Generator, x_star: np.ndarray, k: int, binary: bool) -> np.ndarray:
    """RANDRECORD(x*, k): change k features of x*, chosen uniformly without replacement
    (binary: flipped; otherwise re-drawn uniformly in [0, 1))."""
    idx = g.choice(x_star.shape[0], size=k, replace=False)
    x = x_star.copy()
    if binary:
        x[idx] = 1.0 - x[idx]
    else:
        x[idx] = g.random(k)
    return x


def _query(query_proba: QueryFn, x: np.ndarray) -> np.ndarray:
    probs = np.asarray(query_proba(x), dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != x.shape[0]:
        raise DataError(
            f"hill climbing: query_proba returned shape {probs.shape} for {x.shape[0]} records; "
            "it must return (records, classes) probabilities"
        )
    return probs


def hill_climb(
    query_proba: QueryFn,
    n_features: int,
    wanted_class: int,
    *,
    rng: np.random.Generator,
    k_max: int | None = None,
    k_min: int = DEFAULT_K_MIN,
    conf_min: float = DEFAULT_CONF_MIN,
    rej_max: int = DEFAULT_REJ_MAX,
    iter_max: int = DEFAULT_ITER_MAX,
    binary: bool = True,
) -> tuple[np.ndarray | None, int]:
    """Synthesize one record of ``wanted_class`` by hill climbing on the target's confidence
    (Shokri et al. 2017, sec. V-C, Algorithm 1). One record at a time: the slow reference.

    Algorithm 1, line by line::

        x <- RANDRECORD(); y*_c <- 0; j <- 0; k <- k_max
        for iteration = 1 .. iter_max:
            y <- f_target(x)
            if y_c >= y*_c:                                   # accept
                if y_c > conf_min and c == argmax(y):
                    if rand() < y_c: return x                 # sample
                x* <- x; y*_c <- y_c; j <- 0
            else:
                j <- j + 1
                if j > rej_max:                               # many consecutive rejects
                    k <- max(k_min, ceil(k / 2)); j <- 0
            x <- RANDRECORD(x*, k)                            # randomize k features
        return failure

    Choices the paper leaves open: the rejection counter is compared as printed (``j >
    rej_max``); ``argmax`` ties go to the lowest class index; RANDRECORD draws binary
    features uniformly from {0, 1} (flipping the k chosen ones) and other features uniformly
    from [0, 1) (the records are assumed scaled to [0, 1]); the randomization after the last
    query is skipped (it cannot change the result).

    Randomness is drawn from ``rng`` in a fixed order (initial record; per iteration the
    sampling coin, only when it is tossed, then the k feature positions and, for non-binary
    features, their new values), so :func:`hill_climb_batch` reproduces it exactly given the
    same generator.

    Args:
        query_proba: maps (m, d) records to the target's (m, C) probabilities.
        n_features: d.
        wanted_class: c.
        rng: this climb's generator.
        k_max, k_min: largest and smallest number of features changed per step
            (``k_max=None``: ceil(d / 2)).
        conf_min: confidence the wanted class must exceed.
        rej_max: consecutive rejections tolerated before k is halved.
        iter_max: query budget.
        binary: features are binary.

    Returns:
        (record or None when the budget ran out, number of queries made).
    """
    k_max = _default_k_max(n_features) if k_max is None else int(k_max)
    _check_climb_params(n_features, k_max, k_min, conf_min, rej_max, iter_max)
    c = int(wanted_class)
    x = _random_record(rng, n_features, binary)
    x_star = x
    y_star = 0.0
    j = 0
    k = k_max
    queries = 0
    for iteration in range(iter_max):
        y = _query(query_proba, x[None, :])[0]
        queries += 1
        y_c = float(y[c])
        if y_c >= y_star:
            if y_c > conf_min and c == int(np.argmax(y)) and rng.random() < y_c:
                return x, queries
            x_star, y_star, j = x, y_c, 0
        else:
            j += 1
            if j > rej_max:
                k = max(k_min, int(math.ceil(k / 2)))
                j = 0
        if iteration < iter_max - 1:
            x = _randomize(rng, x_star, k, binary)
    return None, queries


@dataclass(frozen=True)
class ClimbResult:
    """Outcome of a batch of hill climbs.

    Attributes:
        x: float64 (m, d) synthesized records (rows of failed climbs hold their last record).
        success: bool (m,) whether each climb returned a record.
        queries: int64 (m,) queries each climb made.
    """

    x: np.ndarray
    success: np.ndarray
    queries: np.ndarray


def hill_climb_batch(
    query_proba: QueryFn,
    n_features: int,
    wanted_classes: np.ndarray,
    *,
    rngs: Sequence[np.random.Generator],
    k_max: int | None = None,
    k_min: int = DEFAULT_K_MIN,
    conf_min: float = DEFAULT_CONF_MIN,
    rej_max: int = DEFAULT_REJ_MAX,
    iter_max: int = DEFAULT_ITER_MAX,
    binary: bool = True,
) -> ClimbResult:
    """Many climbs of Algorithm 1 at once (Shokri et al. 2017, sec. V-C).

    Each step queries the target once on the batch of climbs still running, so the model's
    forward pass (the expensive part) is vectorised. Climb i draws its randomness from
    ``rngs[i]`` in exactly the order of :func:`hill_climb`, so its result is the result of
    ``hill_climb(..., rng=rngs[i])`` whatever the other climbs do (tested).
    """
    wanted = np.asarray(wanted_classes, dtype=np.int64).reshape(-1)
    m = wanted.shape[0]
    if len(rngs) != m:
        raise ConfigError(f"hill_climb_batch: {m} climbs but {len(rngs)} generators")
    k_max = _default_k_max(n_features) if k_max is None else int(k_max)
    _check_climb_params(n_features, k_max, k_min, conf_min, rej_max, iter_max)
    x = np.empty((m, n_features))
    for i, g in enumerate(rngs):
        x[i] = _random_record(g, n_features, binary)
    x_star = x.copy()
    y_star = np.zeros(m)
    rejects = np.zeros(m, dtype=np.int64)
    k = np.full(m, k_max, dtype=np.int64)
    queries = np.zeros(m, dtype=np.int64)
    success = np.zeros(m, dtype=bool)
    active = np.arange(m)
    for iteration in range(iter_max):
        if active.size == 0:
            break
        y = _query(query_proba, x[active])
        queries[active] += 1
        c = wanted[active]
        y_c = y[np.arange(active.size), c]
        accept = y_c >= y_star[active]
        candidate = accept & (y_c > conf_min) & (np.argmax(y, axis=1) == c)
        done = np.zeros(active.size, dtype=bool)
        for pos in np.flatnonzero(candidate):  # the sampling coin, per climb's own stream
            done[pos] = rngs[active[pos]].random() < y_c[pos]
        success[active[done]] = True
        moved = active[accept & ~done]
        x_star[moved] = x[moved]
        y_star[moved] = y_c[accept & ~done]
        rejects[moved] = 0
        rejected = active[~accept]
        rejects[rejected] += 1
        shrink = rejected[rejects[rejected] > rej_max]
        k[shrink] = np.maximum(k_min, np.ceil(k[shrink] / 2).astype(np.int64))
        rejects[shrink] = 0
        active = active[~done]
        if iteration < iter_max - 1:
            for i in active:
                x[i] = _randomize(rngs[i], x_star[i], int(k[i]), binary)
    return ClimbResult(x=x, success=success, queries=queries)


@dataclass(frozen=True)
class SynthesisResult:
    """Records synthesized by :func:`model_synthesis`.

    Attributes:
        x: float64 (n, d) records, grouped by class.
        y: int64 (n,) the class each record was synthesized for.
        queries: total number of records sent to the target (one per climb step).
        attempts: number of climbs started (successful or not).
    """

    x: np.ndarray
    y: np.ndarray
    queries: int
    attempts: int


def model_synthesis(
    query_proba: QueryFn,
    n_per_class: int,
    num_classes: int,
    n_features: int,
    *,
    rng: np.random.Generator,
    k_max: int | None = None,
    k_min: int = DEFAULT_K_MIN,
    conf_min: float = DEFAULT_CONF_MIN,
    rej_max: int = DEFAULT_REJ_MAX,
    iter_max: int = DEFAULT_ITER_MAX,
    binary: bool = True,
    max_rounds: int = 5,
    allow_fewer: bool = False,
) -> SynthesisResult:
    """Model-based synthesis of shadow training data (Shokri et al. 2017, sec. V-C).

    Runs Algorithm 1 for ``n_per_class`` records of every class, all classes in one batch
    (:func:`hill_climb_batch`). Failed climbs (the paper's ``return ⊥``) are restarted from a
    new random record, in up to ``max_rounds`` rounds. Each climb gets its own generator,
    spawned from ``rng`` in order (round, class, index), so results are reproducible.

    Args:
        query_proba: maps (m, d) records to the target's (m, C) probabilities.
        n_per_class: records wanted per class.
        num_classes: C.
        n_features: d.
        rng: source of randomness.
        k_max, k_min, conf_min, rej_max, iter_max, binary: as in :func:`hill_climb`.
        max_rounds: rounds of restarts for failed climbs.
        allow_fewer: return what was found instead of raising when a class falls short.

    Returns:
        :class:`SynthesisResult` with the records, their classes and the query count.

    Raises:
        DataError: some class got fewer than ``n_per_class`` records (unless
            ``allow_fewer``); the message names the fix.
    """
    if n_per_class < 0 or num_classes < 2 or max_rounds < 1:
        raise ConfigError(
            "model_synthesis: need n_per_class >= 0, num_classes >= 2 and max_rounds >= 1, got "
            f"{n_per_class}, {num_classes}, {max_rounds}"
        )
    found: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    missing = np.full(num_classes, int(n_per_class), dtype=np.int64)
    queries = 0
    attempts = 0
    for _ in range(max_rounds):
        if not missing.any():
            break
        wanted = np.repeat(np.arange(num_classes), missing)
        rngs = rng.spawn(wanted.size)
        result = hill_climb_batch(
            query_proba,
            n_features,
            wanted,
            rngs=rngs,
            k_max=k_max,
            k_min=k_min,
            conf_min=conf_min,
            rej_max=rej_max,
            iter_max=iter_max,
            binary=binary,
        )
        queries += int(result.queries.sum())
        attempts += wanted.size
        for i in np.flatnonzero(result.success):
            found[wanted[i]].append(result.x[i])
        missing = np.array([n_per_class - len(f) for f in found], dtype=np.int64)
    if missing.any() and not allow_fewer:
        short = {c: int(n_per_class - missing[c]) for c in np.flatnonzero(missing)}
        raise DataError(
            f"model_synthesis: after {max_rounds} rounds some classes got fewer than "
            f"{n_per_class} records (class: records found) {dict(list(short.items())[:10])}; "
            "lower conf_min, raise iter_max or max_rounds, or pass allow_fewer=True"
        )
    xs = [np.asarray(f).reshape(len(f), n_features) for f in found]
    ys = [np.full(len(f), c, dtype=np.int64) for c, f in enumerate(found)]
    return SynthesisResult(
        x=np.concatenate(xs) if xs else np.empty((0, n_features)),
        y=np.concatenate(ys) if ys else np.empty(0, dtype=np.int64),
        queries=queries,
        attempts=attempts,
    )
