"""White-box distance to a torch model's decision boundary with gradient attacks.

Used by the boundary-distance transfer attack (``boundary_transfer``): Li & Zhang 2021
(CCS, sec. 4 "transfer attack") train a shadow model on data relabelled by the target; the
distance of a record to the *shadow's* boundary, found with white-box adversarial attacks,
stands in for its distance to the target's (Choquette-Choo et al. 2021, ICML, sec. 4, use
white-box C&W distances as the upper baseline of their label-only boundary attack).

Three estimators, all vectorised over records (one forward/backward pass per batch of
``batch_size`` records, never a Python loop per record):

* :func:`fgsm_distance`: the fast gradient method (Goodfellow et al. 2015, eq. (3); its
  L2 form normalises the gradient instead of taking its sign) with a line search over
  epsilon: a geometric grid up to ``max_epsilon``, then a bisection between the largest
  grid value that does not change the label and the smallest that does.
* :func:`pgd_distance`: minimal-perturbation search with projected gradient descent
  (Madry et al. 2018, eq. (2), L2 ball): a bisection over the radius r, each step running
  PGD-L2 inside the ball of radius r and keeping the smallest adversarial perturbation
  found; the search starts from the FGSM distance (a radius known to suffice).
* :func:`cw_l2_distance`: Carlini & Wagner's L2 attack (2017, S&P, sec. V-A), Adam on
  ||delta||^2 + c * max(Z_y - max_{i != y} Z_i, -kappa) with a per-record binary search
  over c (tanh change of variables for boxed features, or clipping), then a line search
  along the found perturbation; the attack Choquette-Choo et al. use for white-box distances.

Choices: FGSM and PGD ascend the margin loss max_{j != y} z_j - z_y (Carlini & Wagner 2017,
objective f_6), whose gradient for a linear model is exactly the boundary normal, rather
than the cross-entropy; PGD starts at the record (no random start, so results are
deterministic without a generator) with step 2.5 r / steps (Madry et al.). The distance is
the norm of the adversarial perturbation actually found (after clipping to
[clip_min, clip_max]); records the model already misclassifies get 0; records for which no
label change is found within ``max_epsilon`` get ``max_epsilon`` ("at least this far").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError, DataError
from miaudit.validation import check_int

_NORMS = ("l2", "linf")


def _margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """max_{j != y} z_j - z_y per row (> 0 iff the label is not y, up to ties)."""
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return other.max(dim=1).values - true


class _Model:
    """The module in eval mode, inputs converted to its dtype/device, batched."""

    def __init__(self, model: nn.Module, record_shape: tuple[int, ...], batch_size: int) -> None:
        if not isinstance(model, nn.Module):
            raise DataError(f"a torch.nn.Module is needed, got {type(model).__name__}")
        params = [p for p in model.parameters() if p.is_floating_point()]
        self.dtype = params[0].dtype if params else torch.float32
        self.device = params[0].device if params else torch.device("cpu")
        self.model = model
        self.shape = record_shape
        self.batch_size = batch_size

    def tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def labels(self, flat: np.ndarray) -> np.ndarray:
        out = np.empty(len(flat), dtype=np.int64)
        with torch.no_grad():
            for s in range(0, len(flat), self.batch_size):
                xb = self.tensor(flat[s : s + self.batch_size]).reshape(-1, *self.shape)
                out[s : s + self.batch_size] = self.model(xb).argmax(dim=1).cpu().numpy()
        return out

    def margin_grad(self, flat: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(margins (m,), gradients of the margin w.r.t. the inputs (m, d)), float64."""
        margins = np.empty(len(flat))
        grads = np.empty_like(flat, dtype=np.float64)
        with torch.enable_grad():
            for s in range(0, len(flat), self.batch_size):
                xb = self.tensor(flat[s : s + self.batch_size]).reshape(-1, *self.shape)
                xb.requires_grad_(True)
                yb = torch.as_tensor(y[s : s + self.batch_size], device=self.device)
                m = _margin(self.model(xb), yb)
                (g,) = torch.autograd.grad(m.sum(), xb)
                margins[s : s + self.batch_size] = m.detach().cpu().double().numpy()
                grads[s : s + self.batch_size] = g.reshape(len(g), -1).cpu().double().numpy()
        return margins, grads


def _prepare(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    clip_min: float | np.ndarray | None,
    clip_max: float | np.ndarray | None,
    batch_size: int,
    norm: str,
) -> tuple[_Model, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if norm not in _NORMS:
        raise ConfigError(f"norm must be one of {', '.join(_NORMS)}, got {norm!r}")
    check_int(batch_size, "batch_size", low=1)
    x_arr = np.asarray(x)
    y_arr = np.asarray(y).astype(np.int64)
    if x_arr.ndim < 2 or y_arr.shape != (x_arr.shape[0],):
        raise DataError(
            f"records (n, ...) and labels (n,) needed, got {x_arr.shape} and {y_arr.shape}"
        )
    n = x_arr.shape[0]
    flat = x_arr.reshape(n, -1).astype(np.float64)
    d = flat.shape[1]
    lo = np.full(d, -np.inf) if clip_min is None else np.broadcast_to(clip_min, (d,)).copy()
    hi = np.full(d, np.inf) if clip_max is None else np.broadcast_to(clip_max, (d,)).copy()
    return _Model(model, tuple(x_arr.shape[1:]), batch_size), flat, y_arr, lo, hi


def _norm(a: np.ndarray, norm: str) -> np.ndarray:
    return np.abs(a).max(axis=1) if norm == "linf" else np.linalg.norm(a, axis=1)


def _direction(grad: np.ndarray, norm: str) -> np.ndarray:
    if norm == "linf":
        return np.sign(grad)
    g = np.linalg.norm(grad, axis=1, keepdims=True)
    return np.divide(grad, g, out=np.zeros_like(grad), where=g > 0)


def _eval_mode(model: nn.Module) -> bool:
    was = model.training
    model.eval()
    return was


def fgsm_distance(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_epsilon: float,
    norm: str = "l2",
    n_grid: int = 16,
    grid_ratio: float = 1e-4,
    n_refine: int = 12,
    clip_min: float | np.ndarray | None = None,
    clip_max: float | np.ndarray | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Distance to the boundary along the fast-gradient direction, with a line search.

    Goodfellow et al. 2015 (ICLR), eq. (3) (``norm="linf"``: the sign of the gradient; "l2":
    the L2-normalised gradient) of the margin loss at x; epsilon is searched on the
    geometric grid ``max_epsilon * grid_ratio ** (k / (n_grid - 1))``, k = n_grid-1..0,
    then refined by ``n_refine`` bisection steps.

    Returns:
        float64 (n,): the norm ("l2" or "linf") of the smallest label-changing perturbation
        found; 0 for misclassified records; ``max_epsilon`` where none was found.
    """
    net, flat, y_arr, lo, hi = _prepare(model, x, y, clip_min, clip_max, batch_size, norm)
    if not max_epsilon > 0 or n_grid < 1 or not 0 < grid_ratio < 1 or n_refine < 0:
        raise ConfigError(
            "fgsm_distance needs max_epsilon > 0, n_grid >= 1, 0 < grid_ratio < 1, n_refine >= 0"
        )
    n = len(y_arr)
    was = _eval_mode(model)
    try:
        margins, grad = net.margin_grad(flat, y_arr)
        direction = _direction(grad, norm)
        dist = np.full(n, float(max_epsilon))
        wrong = net.labels(flat) != y_arr
        dist[wrong] = 0.0
        rows = np.flatnonzero(~wrong)
        if rows.size == 0:
            return dist
        eps = max_epsilon * grid_ratio ** (np.arange(n_grid)[::-1] / max(n_grid - 1, 1))
        pts = np.clip(
            flat[rows][:, None, :] + eps[None, :, None] * direction[rows][:, None, :], lo, hi
        ).reshape(rows.size * n_grid, -1)
        flips = (net.labels(pts) != np.repeat(y_arr[rows], n_grid)).reshape(rows.size, n_grid)
        hit = flips.any(axis=1)
        first = np.argmax(flips, axis=1)
        rows, first = rows[hit], first[hit]
        upper = eps[first]
        lower = np.where(first > 0, eps[np.maximum(first - 1, 0)], 0.0)
        for _ in range(n_refine):
            mid = 0.5 * (lower + upper)
            p = np.clip(flat[rows] + mid[:, None] * direction[rows], lo, hi)
            flip = net.labels(p) != y_arr[rows]
            upper = np.where(flip, mid, upper)
            lower = np.where(flip, lower, mid)
        adv = np.clip(flat[rows] + upper[:, None] * direction[rows], lo, hi)
        dist[rows] = _norm(adv - flat[rows], norm)
        return dist
    finally:
        model.train(was)


def _pgd(
    net: _Model,
    flat: np.ndarray,
    y: np.ndarray,
    radius: np.ndarray,
    steps: int,
    norm: str,
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """PGD in the ball of ``radius`` around each record; the norm of the smallest
    adversarial perturbation met along the path, +inf where none was met."""
    delta = np.zeros_like(flat)
    best = np.full(len(y), np.inf)
    alpha = 2.5 * radius / steps
    active = np.arange(len(y))
    for k in range(steps + 1):
        # the margin at the current iterate tells whether it is adversarial (one forward
        # pass both checks the previous step and gives the next gradient)
        margins, grad = net.margin_grad(flat[active] + delta[active], y[active])
        if k > 0:
            adv = margins > 0
            best[active[adv]] = _norm(delta[active[adv]], norm)
            active = active[~adv]  # stop at the first success: it lies within the radius
            grad = grad[~adv]
        if active.size == 0 or k == steps:
            break
        step = delta[active] + alpha[active, None] * _direction(grad, norm)
        if norm == "l2":
            size = np.linalg.norm(step, axis=1, keepdims=True)
            scale = np.minimum(1.0, radius[active, None] / np.maximum(size, 1e-300))
            step = step * scale
        else:
            step = np.clip(step, -radius[active, None], radius[active, None])
        delta[active] = np.clip(flat[active] + step, lo, hi) - flat[active]
    return best


def pgd_distance(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_epsilon: float,
    norm: str = "l2",
    steps: int = 20,
    n_search: int = 10,
    clip_min: float | np.ndarray | None = None,
    clip_max: float | np.ndarray | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Smallest PGD perturbation that changes the label: bisection over the radius.

    Madry et al. 2018 (ICLR), eq. (2), projected gradient ascent on the margin loss in an
    L2 (or L-infinity) ball, ``steps`` steps of size 2.5 r / steps; the radius is bisected
    ``n_search`` times between 0 and the smallest radius known to suffice (the
    :func:`fgsm_distance` result, else PGD at ``max_epsilon``).

    Returns:
        float64 (n,): the norm of the smallest adversarial perturbation found; 0 for
        misclassified records; ``max_epsilon`` where none was found.
    """
    if not max_epsilon > 0 or steps < 1 or n_search < 0:
        raise ConfigError("pgd_distance needs max_epsilon > 0, steps >= 1, n_search >= 0")
    upper = fgsm_distance(
        model,
        x,
        y,
        max_epsilon=max_epsilon,
        norm=norm,
        clip_min=clip_min,
        clip_max=clip_max,
        batch_size=batch_size,
    )
    net, flat, y_arr, lo, hi = _prepare(model, x, y, clip_min, clip_max, batch_size, norm)
    was = _eval_mode(model)
    try:
        rows = np.flatnonzero(upper > 0)
        if rows.size == 0:
            return upper
        # records FGSM could not move: PGD at the full radius
        stuck = rows[upper[rows] >= max_epsilon]
        if stuck.size:
            radius = np.full(stuck.size, float(max_epsilon))
            found = _pgd(net, flat[stuck], y_arr[stuck], radius, steps, norm, lo, hi)
            upper[stuck] = np.minimum(upper[stuck], found)
        lower = np.zeros(rows.size)
        best = upper[rows].copy()
        for _ in range(n_search):
            mid = 0.5 * (lower + best)
            found = _pgd(net, flat[rows], y_arr[rows], mid, steps, norm, lo, hi)
            ok = np.isfinite(found)
            best = np.where(ok, np.minimum(best, found), best)
            lower = np.where(ok, lower, mid)
        upper[rows] = best
        return upper
    finally:
        model.train(was)


_BOXES = ("tanh", "clip")


def _cw_batch(
    net: _Model,
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    steps: int,
    binary_search_steps: int,
    initial_const: float,
    lr: float,
    kappa: float,
    box: str,
) -> tuple[np.ndarray, np.ndarray]:
    """C&W-L2 on one batch of correctly classified records: (smallest successful L2 norm,
    +inf where none; the adversarial points, float64 (m, d))."""
    m, d = x.shape
    xt = net.tensor(x)
    yt = torch.as_tensor(y, device=net.device)
    lo_t, hi_t = net.tensor(lo), net.tensor(hi)
    # tanh change of variables (C&W sec. V-A) on the features boxed on both sides; the
    # others are optimised directly, clipped to the side that is bounded
    boxed = np.isfinite(lo) & np.isfinite(hi) if box == "tanh" else np.zeros(d, bool)
    boxed_t = torch.as_tensor(boxed, device=net.device)
    with np.errstate(invalid="ignore"):
        half_np = np.where(boxed, (hi - lo) / 2, 0.0)
        mid_np = np.where(boxed, (hi + lo) / 2, 0.0)
    half, mid = net.tensor(half_np), net.tensor(mid_np)
    # arctanh of the record, shrunk by 1 - 1e-6 as in the authors' code (arctanh(+-1) = inf);
    # a feature with clip_min == clip_max stays at that value
    safe = net.tensor(np.where(half_np > 0, half_np, 1.0))
    u = torch.where(half > 0, (xt - mid) / safe, torch.zeros_like(xt)).clamp(-1, 1)
    w_start = torch.where(boxed_t, torch.atanh(u * (1 - 1e-6)), torch.zeros_like(xt))

    def point(w: torch.Tensor) -> torch.Tensor:
        direct = torch.maximum(torch.minimum(xt + w, hi_t), lo_t)
        return torch.where(boxed_t, mid + half * torch.tanh(w), direct)

    const = np.full(m, float(initial_const))
    c_lo = np.zeros(m)
    c_hi = np.full(m, np.inf)
    best = np.full(m, np.inf)
    best_adv = x.copy()
    for _ in range(binary_search_steps):
        w = w_start.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        c_t = net.tensor(const)
        succeeded = np.zeros(m, bool)
        for k in range(steps + 1):
            adv = point(w)
            logits = net.model(adv.reshape(-1, *net.shape))
            # success and norm at the current iterate (before its update)
            with torch.no_grad():
                adv64 = adv.detach().cpu().double().numpy()
                dist = np.linalg.norm(adv64 - x, axis=1)
                ok = (logits.argmax(dim=1) != yt).cpu().numpy()
                better = ok & (dist < best)
                best[better] = dist[better]
                best_adv[better] = adv64[better]
                succeeded |= ok
            if k == steps:
                break
            # f_6 of C&W: max(Z_y - max_{i != y} Z_i, -kappa)
            f = torch.clamp(-_margin(logits, yt), min=-kappa)
            loss = ((adv - xt) ** 2).sum(dim=1) + c_t * f
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
        # per-record binary search over c (C&W's code: x10 until the first success)
        c_hi = np.where(succeeded, np.minimum(c_hi, const), c_hi)
        c_lo = np.where(succeeded, c_lo, np.maximum(c_lo, const))
        const = np.where(np.isfinite(c_hi), 0.5 * (c_lo + c_hi), const * 10.0)
    return best, best_adv


def cw_l2_distance(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_epsilon: float,
    steps: int = 100,
    binary_search_steps: int = 9,
    initial_const: float = 1e-3,
    lr: float = 1e-2,
    kappa: float = 0.0,
    box: str = "tanh",
    n_refine: int = 10,
    clip_min: float | np.ndarray | None = None,
    clip_max: float | np.ndarray | None = None,
    batch_size: int = 1024,
    return_adversarial: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Minimal L2 perturbation with Carlini & Wagner's L2 attack.

    Carlini & Wagner 2017 (S&P), "Towards Evaluating the Robustness of Neural Networks",
    sec. V-A: minimise ``||delta||_2^2 + c * f(x + delta)`` with
    ``f(x') = max(Z_y(x') - max_{i != y} Z_i(x'), -kappa)`` (their f_6, untargeted, on the
    logits Z; ``kappa = 0`` for the minimal perturbation), by Adam (learning rate ``lr``,
    ``steps`` steps, restarted from the record for each c), with ``binary_search_steps``
    rounds of a per-record binary search over c starting at ``initial_const`` (c x 10
    until the first success, then bisection). Each iterate that changes the label is a
    candidate; the smallest candidate norm over all iterates and all c is kept.

    Box: where a feature has both ``clip_min`` and ``clip_max`` finite and ``box="tanh"``,
    the paper's change of variables ``x' = mid + half * tanh(w)`` keeps it in the box (the
    record's ``arctanh`` is shrunk by 1 - 1e-6, as in the authors' code, so that records on
    the box's faces have a finite start); other features, or all with ``box="clip"``, are
    optimised directly and clipped to [clip_min, clip_max] (as :func:`fgsm_distance` and
    :func:`pgd_distance` do). Without bounds the problem is unconstrained. ``tanh`` starts
    features that lie on a face of the box (binary features) in the saturated part of tanh:
    Adam moves w by about ``lr`` a step, so they need ``steps * lr`` of several units to
    move at all; ``clip`` has no such delay.

    Our addition: ``n_refine`` bisection steps on t in [0, 1] along the found perturbation
    (the smallest t at which x + t * delta still changes the label). Adam with a constant
    learning rate hovers around the boundary; the line search only ever shortens the
    perturbation and checks every accepted point with the model.

    Returns:
        float64 (n,): the L2 norm of the smallest label-changing perturbation found; 0 for
        misclassified records; ``max_epsilon`` where none was found, or none within
        ``max_epsilon`` (the convention of :func:`fgsm_distance` / :func:`pgd_distance`).
        With ``return_adversarial``, also the adversarial records (shaped like ``x``, in the
        model's dtype rounded to float64; the record itself where none was found).
    """
    net, flat, y_arr, lo, hi = _prepare(model, x, y, clip_min, clip_max, batch_size, "l2")
    for name, value, low in (
        ("steps", steps, 1),
        ("binary_search_steps", binary_search_steps, 1),
        ("n_refine", n_refine, 0),
    ):
        check_int(value, f"cw_l2_distance: {name}", low=low)
    for name, value in (("max_epsilon", max_epsilon), ("initial_const", initial_const), ("lr", lr)):
        if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise ConfigError(f"cw_l2_distance: {name} must be a finite number > 0, got {value!r}")
    if not (isinstance(kappa, int | float) and np.isfinite(kappa) and kappa >= 0):
        raise ConfigError(f"cw_l2_distance: kappa must be a finite number >= 0, got {kappa!r}")
    if box not in _BOXES:
        raise ConfigError(f"cw_l2_distance: box must be one of {', '.join(_BOXES)}, got {box!r}")
    n = len(y_arr)
    was = _eval_mode(model)
    try:
        dist = np.full(n, np.inf)
        adv = flat.copy()
        wrong = net.labels(flat) != y_arr
        dist[wrong] = 0.0
        rows = np.flatnonzero(~wrong)
        with torch.enable_grad():
            for s in range(0, rows.size, batch_size):
                r = rows[s : s + batch_size]
                dist[r], adv[r] = _cw_batch(
                    net,
                    flat[r],
                    y_arr[r],
                    lo,
                    hi,
                    steps=steps,
                    binary_search_steps=binary_search_steps,
                    initial_const=float(initial_const),
                    lr=float(lr),
                    kappa=float(kappa),
                    box=box,
                )
        found = rows[np.isfinite(dist[rows])]
        if found.size:
            delta = adv[found] - flat[found]
            upper = np.ones(found.size)
            lower = np.zeros(found.size)
            for _ in range(n_refine):
                t = 0.5 * (lower + upper)
                p = np.clip(flat[found] + t[:, None] * delta, lo, hi)
                flip = net.labels(p) != y_arr[found]
                upper = np.where(flip, t, upper)
                lower = np.where(flip, lower, t)
            cand = np.clip(flat[found] + upper[:, None] * delta, lo, hi)
            # keep only points the model (batched as in labels()) confirms
            ok = net.labels(cand) != y_arr[found]
            adv[found[ok]] = cand[ok]
            bad = found[~ok]
            if bad.size:
                keep = net.labels(adv[bad]) != y_arr[bad]
                dist[bad[~keep]] = np.inf
                adv[bad[~keep]] = flat[bad[~keep]]
            good = found[np.isfinite(dist[found])]
            dist[good] = np.linalg.norm(adv[good] - flat[good], axis=1)
        dist = np.where(np.isfinite(dist), np.minimum(dist, float(max_epsilon)), max_epsilon)
        if return_adversarial:
            return dist, adv.reshape(np.asarray(x).shape)
        return dist
    finally:
        model.train(was)
