"""MemGuard (Jia, Salem, Backes, Zhang & Gong 2019, "MemGuard: Defending against Black-Box
Membership Inference Attacks via Adversarial Examples", CCS; the survey's eq. 6).

For a confidence vector s with predicted label l, MemGuard releases s + n where the noise n
solves (the paper's eq. 6 / optimisation problem of sec. 4)::

    min_n |g(s + n) - 0.5|   s.t.   argmax(s + n) = l,   s + n is a probability vector,
                                    E[d(s, s + n)] <= epsilon  (d = L1 distance)

with g the defender's own membership classifier, trained on the target's confidence vectors of
its training records (members, 1) and of its reference records (non-members, 0).

Phase I (the paper's Algorithm 1) searches in logit space so that s + n stays a probability
vector: with z = log s (any logits of s) and s' = softmax(z + e), it minimises::

    L(e) = |g_logit(s')| + c2 * ReLU(max_{j != l} (z + e)_j - (z + e)_l) + c3 * ||s' - s||_1

(|g_logit| = 0 exactly when g(s') = 0.5) by normalised gradient steps
``e <- e - beta * grad / ||grad||_2`` until g's decision crosses 0.5 with the label kept, or
``max_iter`` steps. A record that fails is retried with c3 divided by 10 (allowing more
distortion), up to ``rounds`` times, as in the authors' implementation; if all fail the record
gets no noise. Defaults follow the authors' code: beta = 0.1, c2 = 10, c3 = 0.1,
max_iter = 300.

Phase II adds the noise with probability p = min(1, epsilon / ||n||_1), so the expected L1
distortion of every query is at most epsilon. The coin is drawn from a uniform keyed on
(seed, record bytes) (BLAKE2b), so the same record always gets the same answer; answers are
also cached per record, so repeated queries return identical vectors.

Simplifications / choices: g is a small torch MLP (64-32, ReLU) on the *sorted* confidence
vector (the authors sort the vector with top-k before their defense classifier; sorting is
differentiable almost everywhere), trained full-batch with Adam and class-balanced binary
cross-entropy; everything runs in float64. The label constraint is re-checked on the final
vector (argmax with NumPy's tie rule); any violation falls back to the undefended vector, so
predicted labels, and thus accuracy, are exactly unchanged.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from torch import nn

from miaudit.defenses._training import REFERENCE_HINT, seeded
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError, DataError
from miaudit.targets import Target
from miaudit.targets._base import as_records
from miaudit.validation import Interval, check_int

_CAPABILITIES = frozenset({"probabilities", "labels", "loss"})
_LOG_FLOOR = 1e-12


def _record_keys(x: np.ndarray) -> list[bytes]:
    """One BLAKE2b digest per record (float32 bytes, -0.0 folded into 0.0)."""
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(x.shape[0], -1) + np.float32(0.0)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]


def _keyed_uniform(keys: list[bytes], seed: int) -> np.ndarray:
    """Uniform [0, 1) numbers, one per record key, fixed by (seed, key)."""
    k = int(seed).to_bytes(8, "little", signed=False)
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        h = hashlib.blake2b(key, key=k, digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


class DefenseClassifier(nn.Module):
    """g: sorted confidence vector -> membership logit (MLP 64-32, ReLU)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_classes, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)
        )

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        return self.net(torch.sort(probs, dim=1, descending=True).values)[:, 0]


def train_defense_classifier(
    s_in: np.ndarray, s_out: np.ndarray, *, seed: int, steps: int, lr: float
) -> DefenseClassifier:
    """Fit g on members (1) vs non-members (0), full batch, class-balanced BCE, seeded."""
    c = s_in.shape[1]
    x = torch.from_numpy(np.concatenate([s_in, s_out])).double()
    t = torch.cat([torch.ones(len(s_in)), torch.zeros(len(s_out))]).double()
    w = torch.where(t > 0, 0.5 / len(s_in), 0.5 / len(s_out)).double()
    with seeded(seed):
        g = DefenseClassifier(c).double()
    opt = torch.optim.Adam(g.parameters(), lr=lr)
    g.train()
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(g(x), t, reduction="none") * w
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return g.eval().requires_grad_(False)


def find_noise(
    g: nn.Module,
    s: np.ndarray,
    *,
    max_iter: int = 300,
    step: float = 0.1,
    c2: float = 10.0,
    c3: float = 0.1,
    rounds: int = 3,
    bisect_steps: int = 30,
) -> np.ndarray:
    """MemGuard Phase I, vectorised over records: the noised vectors softmax(z + e) (n, C).

    Rows where no round finds a vector with the label kept and g's decision crossed (or
    exactly at) 0.5 are returned unchanged (no noise).
    """
    s = np.asarray(s, dtype=np.float64)
    n = s.shape[0]
    label_np = np.argmax(s, axis=1)
    z = torch.from_numpy(np.log(np.maximum(s, _LOG_FLOOR)))
    label = torch.from_numpy(label_np)
    s0 = torch.softmax(z, dim=1)
    rows = torch.arange(n)
    with torch.no_grad():
        sign0 = torch.sign(g(s0))
    out = s.copy()
    solved = (sign0 == 0).numpy().copy()
    other_mask = torch.ones_like(z, dtype=torch.bool)
    other_mask[rows, label] = False
    weight = c3
    for _ in range(rounds):
        active = torch.from_numpy(~solved)
        if not bool(active.any()):
            break
        za, la, s0a, sign_a = z[active], label[active], s0[active], sign0[active]
        mask_a = other_mask[active]
        ra = torch.arange(za.shape[0])
        e = torch.zeros_like(za)
        prev = e.clone()
        done = torch.zeros(za.shape[0], dtype=torch.bool)
        for _ in range(max_iter):
            e.requires_grad_(True)
            zz = za + e
            sp = torch.softmax(zz, dim=1)
            gz = g(sp)
            kept = zz.argmax(dim=1) == la
            done = kept & (torch.sign(gz.detach()) != sign_a)
            if bool(done.all()):
                break
            margin = torch.where(mask_a, zz, torch.full_like(zz, -torch.inf)).amax(dim=1)
            loss = (
                gz.abs()
                + c2 * torch.relu(margin - zz[ra, la])
                + weight * (sp - s0a).abs().sum(dim=1)
            )
            (grad,) = torch.autograd.grad(loss.sum(), e)
            norm = grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            e = e.detach()
            prev = torch.where(done[:, None], prev, e)
            e = torch.where(done[:, None], e, e - step * grad / norm)
        e = e.detach()
        with torch.no_grad():
            # g's decision crossed 0.5 between prev and e: bisect the segment for g = 0.5.
            # The label margins are linear in e, so the label holds on the whole segment.
            lo, hi = prev.clone(), e.clone()
            for _ in range(bisect_steps):
                mid = 0.5 * (lo + hi)
                crossed = torch.sign(g(torch.softmax(za + mid, dim=1))) != sign_a
                hi = torch.where(crossed[:, None], mid, hi)
                lo = torch.where(crossed[:, None], lo, mid)
            e = torch.where(done[:, None], hi, e)
            zz = za + e
            sp = torch.softmax(zz, dim=1)
            ok = (torch.sign(g(sp)) != sign_a).numpy()
        sp_np = sp.numpy()
        ok &= np.argmax(sp_np, axis=1) == label_np[active.numpy()]
        idx = np.flatnonzero(active.numpy())[ok]
        out[idx] = sp_np[ok]
        solved[idx] = True
        weight /= 10.0
    return out


class MemGuardTarget(Target):
    """The wrapped target: MemGuard-noised probability vectors (no logits).

    Attributes:
        target: the undefended target.
        g: the defender's membership classifier.
    """

    def __init__(self, target: Target, g: DefenseClassifier, defense: MemGuard, seed: int) -> None:
        super().__init__(_CAPABILITIES)
        self.target = target
        self.g = g
        self.seed = seed
        self._params = copy.copy(defense)  # a snapshot: later edits do not leak in
        self._cache: dict[bytes, np.ndarray] = {}

    @property
    def num_classes(self) -> int:
        return self.target.num_classes

    @property
    def description(self) -> str:
        return f"memguard(budget={self._params.budget:g}, {self.target.description})"

    def defend(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Defended vectors for records ``x`` with undefended vectors ``s``, and per-record
        L1 distortion actually applied (uncached; Phase I + Phase II)."""
        p = self._params
        noised = find_noise(
            self.g, s, max_iter=p.max_iter, step=p.step, c2=p.c2, c3=p.c3, rounds=p.rounds
        )
        dist = np.abs(noised - s).sum(axis=1)
        prob = np.where(dist > 0, np.minimum(1.0, p.budget / np.maximum(dist, 1e-300)), 0.0)
        use = _keyed_uniform(_record_keys(x), self.seed) < prob
        out = np.where(use[:, None], noised, s)
        # the label guarantee, re-checked on the final vectors
        bad = np.argmax(out, axis=1) != np.argmax(s, axis=1)
        out[bad] = s[bad]
        return out, np.where(use & ~bad, dist, 0.0)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        keys = _record_keys(x)
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            idx = np.asarray(missing)
            s = self.target.predict_proba(x[idx])
            out, _ = self.defend(x[idx], s)
            for j, i in enumerate(missing):
                self._cache.setdefault(keys[i], out[j])
        res = np.empty((n, self.num_classes), dtype=np.float64)
        for i, k in enumerate(keys):
            res[i] = self._cache[k]
        return res


@register_defense
class MemGuard(Defense):
    """MemGuard (Jia et al. 2019, CCS, eq. 6 and Algorithm 1; two phases, see module docs).

    Args:
        budget: epsilon, the bound on the expected L1 distortion of each confidence vector.
        max_iter: gradient steps of Phase I per round.
        step: beta, the normalised step size in logit space.
        c2: weight of the label-constraint term.
        c3: initial weight of the distortion term (divided by 10 on each retry round).
        rounds: retry rounds of Phase I.
        defender_steps: full-batch Adam steps training g.
        defender_lr: Adam learning rate of g.

    Fitted values (report): ``defender_accuracy_`` (g's balanced accuracy on the undefended
    vectors of the training and reference records), ``defended_defender_accuracy_`` (on their
    defended vectors), ``mean_distortion_`` (mean L1 distortion applied on those records),
    ``noised_fraction_``.
    """

    name = "memguard"
    kind = "inference"
    preserves_labels = True
    output_effect = "adds crafted noise to the confidence scores"
    paper = (
        "Jia, Salem, Backes, Zhang & Gong 2019, MemGuard: Defending against Black-Box "
        "Membership Inference Attacks via Adversarial Examples (CCS)"
    )
    strength_param = "budget"
    needs_reference = True
    param_constraints = {
        "budget": Interval(float, 0),
        "max_iter": Interval(int, 1),
        "step": Interval(float, 0, closed="neither"),
        "c2": Interval(float, 0),
        "c3": Interval(float, 0),
        "rounds": Interval(int, 1),
        "defender_steps": Interval(int, 1),
        "defender_lr": Interval(float, 0, closed="neither"),
    }

    def __init__(
        self,
        *,
        budget: float = 0.5,
        max_iter: int = 300,
        step: float = 0.1,
        c2: float = 10.0,
        c3: float = 0.1,
        rounds: int = 3,
        defender_steps: int = 300,
        defender_lr: float = 1e-2,
    ) -> None:
        self.budget = budget
        self.max_iter = max_iter
        self.step = step
        self.c2 = c2
        self.c3 = c3
        self.rounds = rounds
        self.defender_steps = defender_steps
        self.defender_lr = defender_lr

    def wrap(
        self,
        target: Target,
        *,
        train: tuple[np.ndarray, np.ndarray],
        seed: int,
        data: DefenseData = DefenseData(),
    ) -> Target:
        """Train g on the target's outputs (train = members, reference = non-members) and
        return the target with MemGuard-noised outputs."""
        self.check_params()
        check_int(seed, "seed", low=0)
        if not isinstance(target, Target) or "probabilities" not in target.capabilities:
            raise ConfigError(
                "memguard perturbs confidence vectors: it needs a Target exposing probabilities"
            )
        if not isinstance(data, DefenseData) or data.reference is None:
            raise ConfigError(
                "memguard needs reference non-member records to train its defense classifier: "
                f"{REFERENCE_HINT}"
            )
        x_in = as_records(train[0], what="training records")
        x_out = as_records(data.reference[0], what="reference records")
        if x_in.shape[0] == 0 or x_out.shape[0] == 0:
            raise DataError("memguard needs non-empty training and reference record sets")
        s_in = np.asarray(target.predict_proba(x_in), dtype=np.float64)
        s_out = np.asarray(target.predict_proba(x_out), dtype=np.float64)
        g = train_defense_classifier(
            s_in, s_out, seed=int(seed), steps=int(self.defender_steps), lr=self.defender_lr
        )
        wrapped = MemGuardTarget(target, g, self, int(seed))
        self.g_ = g

        def balanced_acc(a: np.ndarray, b: np.ndarray) -> float:
            # a vector at g = 0.5 (|logit| < 1e-6) is a tie: credited 1/2 (random tie-break)
            with torch.no_grad():
                za, zb = g(torch.from_numpy(a)).numpy(), g(torch.from_numpy(b)).numpy()
            tpr = np.where(np.abs(za) < 1e-6, 0.5, za > 0).mean()
            tnr = np.where(np.abs(zb) < 1e-6, 0.5, zb <= 0).mean()
            return float(0.5 * (tpr + tnr))

        self.defender_accuracy_ = balanced_acc(s_in, s_out)
        d_in, dist_in = wrapped.defend(x_in, s_in)
        d_out, dist_out = wrapped.defend(x_out, s_out)
        self.defended_defender_accuracy_ = balanced_acc(d_in, d_out)
        dist = np.concatenate([dist_in, dist_out])
        self.mean_distortion_ = float(dist.mean())
        self.noised_fraction_ = float(np.mean(dist > 0))
        return wrapped
