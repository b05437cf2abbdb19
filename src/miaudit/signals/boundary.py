"""Decision-based distance to the decision boundary: HopSkipJump with label queries only.

Chen, Jordan & Wainwright 2020, "HopSkipJumpAttack: A Query-Efficient Decision-Based
Attack" (IEEE S&P), Algorithm 2 (untargeted, L2), used as the membership signal of the
label-only boundary-distance attacks of Choquette-Choo et al. 2021 (ICML, sec. 4, "boundary
distance") and Li & Zhang 2021 (CCS, sec. 5, "boundary attack"): members lie farther from
the boundary than non-members.

The algorithm, per record x* with label y (adversarial = predicted label != y):

1. one query of x* itself: a misclassified record has distance 0 (Choquette-Choo et al.);
2. an adversarial starting point (see "Initialisation" below), then a binary search on the
   segment x* -> start to a point x_1 on the adversarial side of the boundary (HSJ sec. 3,
   "binary search", their eq. (8) projection for L2);
3. iterations t = 1, 2, ... (HSJ Algorithm 2):
   a. gradient-direction estimate at the boundary point x_t by Monte-Carlo sign queries
      (HSJ eq. (9)-(10)): B_t points x_t + delta_t u_b, u_b uniform on the unit sphere,
      phi_b = +1 if adversarial else -1, v = mean((phi_b - mean(phi)) u_b) (the baseline
      of their eq. (10); without it when all signs agree), normalised;
   b. geometric step-size search (HSJ sec. 4.1): xi = ||x_t - x*|| / sqrt(t), halved until
      x_t + xi v is adversarial;
   c. binary search back to the boundary on the segment x* -> x_t + xi v.
   The distance is ||x_t - x*|| of the closest adversarial point found.

All records run in lockstep: every model query is one ``predict_labels`` call on the
candidate points of all active records (split in chunks of ``batch`` points when given).
Each record has its own query counter and stops when its budget is spent; the budget is
never exceeded (each phase only asks a record for the queries it can still afford).

Choices where the paper leaves room, made for small budgets (50-500 queries per record,
where ART's defaults use thousands):

* **Initialisation.** With ``starts`` (points whose predicted labels are known, e.g. the
  attacker's population records labelled by the target during ``fit``), each record starts
  from the nearest (L2) start whose predicted label differs from y: an adversarial point
  known without any query, on a natural-image/record direction ("blending towards records
  of another predicted class", as in HSJ's targeted initialisation and the authors' code,
  which blend towards a target-class image). Records without such a start (or without
  ``starts``) draw uniform noise in [clip_min, clip_max] (HSJ's untargeted initialisation),
  at most ``max_init_trials`` times; every noise point queried joins the pool of known
  points, so a record can also start from a noise point drawn for another record (its label
  is known: no extra query). A record for which no adversarial start is found gets
  the diameter of the clip box as its distance (the largest distance the search could
  report: such records are "very far" from the boundary, i.e. member-like).
* **Binary-search precision.** HSJ stops the binary search at blend precision
  theta = d^(-3/2) (their sec. 3.3), which costs about 1.5 log2(d) queries per search
  (17 for CIFAR-sized inputs). We use a relative precision ``tol`` on the blend
  coefficient, by default min(0.01, 0.1 / sqrt(d)): 7 queries for d <= 100, 8-9 for
  image-sized inputs, and the returned distance is accurate to about ``tol``.
* **Probe radius.** As in HSJ, delta_t = sqrt(d) * theta * ||x_t - x*|| with theta our
  ``tol``: the probes reach past the binary search's error while staying local (at most
  about 0.1 of the distance with the default ``tol``).
* **Number of probes.** HSJ uses B_t = B_0 sqrt(t) with B_0 = 100; we use
  B_0 = ``init_num_evals``, by default clip(max_queries_per_record // 8, 10, 100), so that
  a budget of 100 queries already affords several iterations. The last iteration uses the
  probes it can afford after reserving the step search and the binary search.
* **Monotone distance.** HSJ keeps the last boundary point; we keep the closest one found
  (they differ only when an iteration's step made things worse), so the reported distance
  never increases with more queries and is always the distance of a point that the model
  really labels differently from y (an upper bound on the true boundary distance, up to
  the clipping of probes to the box).

Only the L2 norm is implemented (``norm="l2"``); HSJ's L-infinity variant is not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.validation import check_int

PredictLabels = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BoundarySearch:
    """Result of :func:`hop_skip_jump`.

    Attributes:
        distances: float64 (n,), L2 distance from each record to the closest adversarial
            point found (0 for misclassified records; the clip-box diameter when no
            adversarial start was found).
        queries: int64 (n,), label queries spent on each record (the initial one included).
        adversarial: float64 array shaped like ``x``: the adversarial points (the record
            itself when misclassified or when no adversarial point was found).
        found: bool (n,), True where ``adversarial`` is really labelled != y (misclassified
            records included).
    """

    distances: np.ndarray
    queries: np.ndarray
    adversarial: np.ndarray
    found: np.ndarray


def default_tol(d: int) -> float:
    """Default relative binary-search precision: min(0.01, 0.1 / sqrt(d))."""
    return min(0.01, 0.1 / math.sqrt(max(d, 1)))


def default_init_num_evals(max_queries_per_record: int) -> int:
    """Default number of gradient probes at the first iteration: Q // 8 within [10, 100]."""
    return int(min(100, max(10, max_queries_per_record // 8)))


def _as_bound(value: float | np.ndarray | None, d: int, fallback: np.ndarray) -> np.ndarray:
    if value is None:
        return fallback
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(d, float(arr))
    if arr.size != d:
        raise DataError(f"clip bound of size {arr.size} does not match records of {d} features")
    return arr.reshape(d).copy()


class _Oracle:
    """Counts label queries per record and splits them into chunks of ``batch`` points."""

    def __init__(
        self,
        predict_labels: PredictLabels,
        record_shape: tuple[int, ...],
        y: np.ndarray,
        budget: int,
        batch: int | None,
    ) -> None:
        self.predict_labels = predict_labels
        self.record_shape = record_shape
        self.y = y
        self.budget = budget
        self.batch = batch
        self.used = np.zeros(len(y), dtype=np.int64)

    def left(self) -> np.ndarray:
        return self.budget - self.used

    def adversarial(self, points: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Query ``points`` (m, d) for records ``owners`` (m,); True where label != y."""
        return self.labels(points, owners) != self.y[owners]

    def labels(self, points: np.ndarray, owners: np.ndarray) -> np.ndarray:
        """Predicted labels of ``points`` (m, d), counted against records ``owners`` (m,)."""
        m = len(owners)
        if m == 0:
            return np.zeros(0, dtype=np.int64)
        counts = np.bincount(owners, minlength=len(self.y))
        if np.any(self.used + counts > self.budget):  # a bug, never a user error
            raise RuntimeError("hop_skip_jump: internal error, a record's budget would be exceeded")
        self.used += counts
        step = m if self.batch is None else self.batch
        labels = np.empty(m, dtype=np.int64)
        for start in range(0, m, step):
            chunk = points[start : start + step].reshape((-1, *self.record_shape))
            out = np.asarray(self.predict_labels(chunk)).reshape(-1)
            if out.shape[0] != chunk.shape[0]:
                raise DataError(
                    f"predict_labels returned {out.shape[0]} labels for {chunk.shape[0]} points"
                )
            labels[start : start + step] = out
        return labels


def _binary_search(
    oracle: _Oracle,
    x0: np.ndarray,
    far: np.ndarray,
    rows: np.ndarray,
    steps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Bisect each segment x0[rows] -> far (far adversarial, x0 not) for ``steps`` queries or
    as many as the record can afford. Returns (high blend coefficients, points at them)."""
    lo = np.zeros(len(rows))
    hi = np.ones(len(rows))
    for _ in range(steps):
        active = np.flatnonzero(oracle.left()[rows] >= 1)
        if active.size == 0:
            break
        mid = 0.5 * (lo[active] + hi[active])
        pts = (1.0 - mid)[:, None] * x0[rows[active]] + mid[:, None] * far[active]
        adv = oracle.adversarial(pts, rows[active])
        hi[active] = np.where(adv, mid, hi[active])
        lo[active] = np.where(adv, lo[active], mid)
    points = (1.0 - hi)[:, None] * x0[rows] + hi[:, None] * far
    return hi, points


def _nearest_starts(
    x0: np.ndarray, y: np.ndarray, rows: np.ndarray, starts: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """For each record in ``rows``, the nearest start whose known label differs from y.

    Returns (found mask over ``rows``, start points (len(rows), d); rows without one are 0)."""
    s_x, s_lab = starts
    found = np.zeros(len(rows), dtype=bool)
    out = np.zeros((len(rows), x0.shape[1]))
    s_sq = np.einsum("ij,ij->i", s_x, s_x)
    for c in np.unique(y[rows]):
        local = np.flatnonzero(y[rows] == c)
        cand = np.flatnonzero(s_lab != c)
        if cand.size == 0:
            continue
        for start in range(0, local.size, 512):  # bounded (512, m) distance matrices
            part = local[start : start + 512]
            xs = x0[rows[part]]
            d2 = s_sq[cand][None, :] - 2.0 * xs @ s_x[cand].T
            best = cand[np.argmin(d2, axis=1)]
            out[part] = s_x[best]
            found[part] = True
    return found, out


def hop_skip_jump(
    predict_labels: PredictLabels,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_queries_per_record: int,
    norm: str = "l2",
    seed: int | np.random.Generator = 0,
    clip_min: float | np.ndarray | None = None,
    clip_max: float | np.ndarray | None = None,
    starts: tuple[np.ndarray, np.ndarray] | None = None,
    init_num_evals: int | None = None,
    max_num_evals: int = 10_000,
    tol: float | None = None,
    max_init_trials: int = 10,
    max_iterations: int = 1_000,
    batch: int | None = None,
) -> BoundarySearch:
    """Untargeted L2 HopSkipJump (Chen, Jordan & Wainwright 2020, Algorithm 2) on a batch of
    records with a per-record label-query budget; see the module docstring for the details.

    Args:
        predict_labels: ``points (m, *record_shape) -> labels (m,)``, e.g. a label-only
            target's ``predict_labels``. Every call is counted against the records whose
            candidate points it holds.
        x: records (n, ...); y: their labels (n,). "Adversarial" means predicted label != y.
        max_queries_per_record: the budget Q of each record (the query of the record itself
            included); >= 1.
        norm: only "l2".
        seed: an int or a ``numpy.random.Generator`` (noise starts and probe directions).
        clip_min, clip_max: bounds of the input domain, scalars or one value per feature;
            default the min / max of ``x`` (and of ``starts``). Probes are clipped to them.
        starts: optional ``(points (m, ...), labels (m,))``: candidate starting points whose
            predicted labels (by the same model) are already known; see "Initialisation".
        init_num_evals: B_0, probes at the first iteration (default
            :func:`default_init_num_evals`); B_t = B_0 sqrt(t), at most ``max_num_evals``.
        tol: relative precision of each binary search (default :func:`default_tol`).
        max_init_trials: uniform-noise draws per record when no start is known.
        max_iterations: cap on HSJ iterations (the budget normally stops first).
        batch: most points per ``predict_labels`` call (None: one call per phase).

    Returns:
        a :class:`BoundarySearch` (distances, queries, adversarial points, found mask).
    """
    if norm != "l2":
        raise ConfigError(f"hop_skip_jump: only norm='l2' is implemented, got {norm!r}")
    q = check_int(max_queries_per_record, "max_queries_per_record", low=1)
    x_arr = np.asarray(x)
    y_arr = np.asarray(y)
    if x_arr.ndim < 2 or y_arr.shape != (x_arr.shape[0],):
        raise DataError(
            f"hop_skip_jump needs records (n, ...) and labels (n,), got {x_arr.shape} and "
            f"{y_arr.shape}"
        )
    if batch is not None and (isinstance(batch, bool) or batch < 1):
        raise ConfigError(f"batch must be a positive integer or None, got {batch!r}")
    n = x_arr.shape[0]
    record_shape = tuple(x_arr.shape[1:])
    d = int(math.prod(record_shape))
    x0 = x_arr.reshape(n, d).astype(np.float64)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    tol = default_tol(d) if tol is None else float(tol)
    if not 0.0 < tol < 1.0:
        raise ConfigError(f"tol must be in (0, 1), got {tol}")
    k_bs = int(math.ceil(math.log2(1.0 / tol)))
    b0 = default_init_num_evals(q) if init_num_evals is None else int(init_num_evals)
    if b0 < 1:
        raise ConfigError(f"init_num_evals must be >= 1, got {init_num_evals}")

    s_pts: tuple[np.ndarray, np.ndarray] | None = None
    lo_data, hi_data = (x0.min(axis=0), x0.max(axis=0)) if n else (np.zeros(d), np.ones(d))
    if starts is not None:
        s_x = np.asarray(starts[0], dtype=np.float64).reshape(len(starts[0]), -1)
        s_lab = np.asarray(starts[1]).reshape(-1)
        if s_x.shape[1] != d or s_lab.shape[0] != s_x.shape[0]:
            raise DataError(
                f"starts must be (points (m, ...) with {d} features, labels (m,)), got "
                f"{s_x.shape} and {s_lab.shape}"
            )
        s_pts = (s_x, s_lab)
        if len(s_x):
            lo_data = np.minimum(lo_data, s_x.min(axis=0))
            hi_data = np.maximum(hi_data, s_x.max(axis=0))
    lo_clip = _as_bound(clip_min, d, lo_data)
    hi_clip = _as_bound(clip_max, d, hi_data)
    if np.any(hi_clip < lo_clip):
        raise DataError("clip_max must be >= clip_min for every feature")
    diameter = float(np.linalg.norm(hi_clip - lo_clip))

    oracle = _Oracle(predict_labels, record_shape, y_arr, q, batch)
    distances = np.zeros(n)
    adv_pts = x0.copy()
    found = np.zeros(n, dtype=bool)
    if n == 0:
        return BoundarySearch(distances, oracle.used, x_arr.astype(np.float64), found)

    # 1. the record itself: misclassified -> distance 0
    everyone = np.arange(n)
    wrong = oracle.adversarial(x0, everyone)
    found[wrong] = True
    need = np.flatnonzero(~wrong)

    # 2. adversarial starts: the nearest known point of another label (``starts``, then
    #    every noise point queried so far, whichever record it was drawn for), else noise
    pool_x = [s_pts[0]] if s_pts is not None else []
    pool_lab = [s_pts[1]] if s_pts is not None else []
    start_pts = np.zeros((n, d))
    has_start = np.zeros(n, dtype=bool)
    for trial in range(max_init_trials + 1):
        rows = need[~has_start[need]]
        if rows.size and pool_x:
            ok, pts = _nearest_starts(
                x0, y_arr, rows, (np.concatenate(pool_x), np.concatenate(pool_lab))
            )
            start_pts[rows[ok]] = pts[ok]
            has_start[rows[ok]] = True
        rows = need[~has_start[need] & (oracle.left()[need] >= 1)]
        if rows.size == 0 or trial == max_init_trials:
            break
        noise = lo_clip + rng.random((rows.size, d)) * (hi_clip - lo_clip)
        pool_x.append(noise)
        pool_lab.append(oracle.labels(noise, rows))
    no_start = need[~has_start[need]]
    distances[no_start] = diameter
    rows = need[has_start[need]]
    if rows.size:
        _, pts = _binary_search(oracle, x0, start_pts[rows], rows, k_bs)
        adv_pts[rows] = pts
        found[rows] = True
        distances[rows] = np.linalg.norm(pts - x0[rows], axis=1)

    # 3. HSJ iterations
    searching = rows[distances[rows] > 0]
    sqrt_d = math.sqrt(d)
    for t in range(1, max_iterations + 1):
        left = oracle.left()[searching]
        b_t = min(int(round(b0 * math.sqrt(t))), max_num_evals)
        # reserve one step-search query and a full binary search
        probes = np.minimum(b_t, left - 1 - k_bs)
        keep = probes >= 2
        searching, probes = searching[keep], probes[keep]
        if searching.size == 0:
            break
        # 3a. gradient-direction estimate (HSJ eq. (9)-(10))
        dist_now = distances[searching]
        delta = sqrt_d * tol * dist_now
        owners = np.repeat(np.arange(searching.size), probes)
        u = rng.standard_normal((owners.size, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        base = adv_pts[searching][owners]
        probe_pts = np.clip(base + delta[owners, None] * u, lo_clip, hi_clip)
        u = (probe_pts - base) / delta[owners, None]
        phi = np.where(oracle.adversarial(probe_pts, searching[owners]), 1.0, -1.0)
        mean_phi = np.bincount(owners, weights=phi, minlength=searching.size) / probes
        centred = phi - np.where(np.abs(mean_phi) == 1.0, 0.0, mean_phi)[owners]
        grad = np.zeros((searching.size, d))
        np.add.at(grad, owners, centred[:, None] * u)
        grad /= probes[:, None]
        g_norm = np.linalg.norm(grad, axis=1, keepdims=True)
        grad = np.divide(grad, g_norm, out=np.zeros_like(grad), where=g_norm > 0)
        g_norm = np.linalg.norm(grad, axis=1)
        usable = g_norm > 0
        v = np.zeros_like(grad)
        v[usable] = grad[usable] / g_norm[usable, None]
        # 3b. geometric step-size search (HSJ sec. 4.1), keeping k_bs queries in reserve
        xi = dist_now / math.sqrt(t)
        stepping = usable.copy()
        stepped = np.zeros(searching.size, dtype=bool)
        cand = adv_pts[searching].copy()
        for _ in range(k_bs + 4):
            idx = np.flatnonzero(stepping & (oracle.left()[searching] > k_bs))
            if idx.size == 0:
                break
            pts = np.clip(adv_pts[searching[idx]] + xi[idx, None] * v[idx], lo_clip, hi_clip)
            hit = oracle.adversarial(pts, searching[idx])
            cand[idx[hit]] = pts[hit]
            stepped[idx[hit]] = True
            stepping[idx[hit]] = False
            xi[idx[~hit]] *= 0.5
        # 3c. binary search back to the boundary; keep the closest adversarial point
        moved = np.flatnonzero(stepped)
        if moved.size:
            recs = searching[moved]
            _, pts = _binary_search(oracle, x0, cand[moved], recs, k_bs)
            new_dist = np.linalg.norm(pts - x0[recs], axis=1)
            better = new_dist < distances[recs]
            adv_pts[recs[better]] = pts[better]
            distances[recs[better]] = new_dist[better]
    return BoundarySearch(
        distances=distances,
        queries=oracle.used.copy(),
        adversarial=adv_pts.reshape(x_arr.shape),
        found=found,
    )


def hop_skip_jump_distance(
    predict_labels: PredictLabels,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_queries_per_record: int,
    norm: str = "l2",
    seed: int | np.random.Generator = 0,
    clip_min: float | np.ndarray | None = None,
    clip_max: float | np.ndarray | None = None,
    starts: tuple[np.ndarray, np.ndarray] | None = None,
    init_num_evals: int | None = None,
    tol: float | None = None,
    batch: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Label-only distance to the decision boundary (Choquette-Choo et al. 2021, sec. 4;
    Li & Zhang 2021, sec. 5) estimated with :func:`hop_skip_jump`.

    Returns:
        (distances float64 (n,), label queries used per record int64 (n,)).
    """
    res = hop_skip_jump(
        predict_labels,
        x,
        y,
        max_queries_per_record=max_queries_per_record,
        norm=norm,
        seed=seed,
        clip_min=clip_min,
        clip_max=clip_max,
        starts=starts,
        init_num_evals=init_num_evals,
        tol=tol,
        batch=batch,
    )
    return res.distances, res.queries
