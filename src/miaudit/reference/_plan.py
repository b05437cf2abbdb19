"""Reference plans: which pool records train each reference model, and with which seed.

* :func:`random_plan` (Carlini et al. 2022, "Membership Inference Attacks From First
  Principles", S&P; reference code tensorflow/privacy research/mi_lira_2021/train.py): a
  random membership matrix in which every record is IN for exactly ``int(pkeep * N)`` of the
  N models. Used by LiRA and RMIA (Zarifzadeh et al. 2024).
* :func:`shadow_plan` (Shokri et al. 2017, "Membership Inference Attacks Against Machine
  Learning Models", S&P): each shadow model trains on its own ``train_size`` records and has a
  disjoint out set of the same size; different shadows may overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.validation import check_int

PLAN_KINDS = ("random", "shadow")


def _positive_int(value: object, what: str) -> int:
    return check_int(value, what, low=1)


def _seed(value: object) -> int:
    return check_int(value, "seed", low=0)


def model_seeds(seed_seq: np.random.SeedSequence, num_models: int) -> tuple[int, ...]:
    """One independent training seed per model (``SeedSequence.spawn``).

    32-bit, because scikit-learn's ``random_state`` accepts no more.
    """
    return tuple(int(child.generate_state(1, np.uint32)[0]) for child in seed_seq.spawn(num_models))


@dataclass(frozen=True)
class ReferencePlan:
    """Which pool records train each reference model, and with which seed.

    Attributes:
        n_pool: number of records in the pool the indices point into.
        train_indices: per model, sorted int64 indices of its training records.
        out_indices: per model, sorted int64 indices of its designated non-members (random
            plan: the complement of ``train_indices``; shadow plan: Shokri's disjoint out set).
        seeds: per-model training seeds, independent of executor and order.
        kind: "random" or "shadow".
    """

    n_pool: int
    train_indices: tuple[np.ndarray, ...]
    out_indices: tuple[np.ndarray, ...]
    seeds: tuple[int, ...]
    kind: str

    def __post_init__(self) -> None:
        n_pool = _positive_int(self.n_pool, "n_pool")
        if self.kind not in PLAN_KINDS:
            raise ConfigError(f"unknown plan kind {self.kind!r}; valid: {', '.join(PLAN_KINDS)}")
        k = len(self.train_indices)
        if k == 0 or len(self.out_indices) != k or len(self.seeds) != k:
            raise DataError(
                f"a plan needs one training set, out set and seed per model; got "
                f"{len(self.train_indices)}, {len(self.out_indices)} and {len(self.seeds)}"
            )
        train, out = [], []
        for j in range(k):
            t = np.asarray(self.train_indices[j], dtype=np.int64)
            o = np.asarray(self.out_indices[j], dtype=np.int64)
            for what, idx in (("train", t), ("out", o)):
                if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n_pool)):
                    raise DataError(f"model {j}: {what} indices must be 1-D within [0, {n_pool})")
                if np.any(np.diff(idx) <= 0):
                    raise DataError(f"model {j}: {what} indices must be sorted and distinct")
            if t.size == 0:
                raise DataError(f"model {j} has an empty training set")
            if np.intersect1d(t, o).size:
                raise DataError(f"model {j}: a record is both in its training and out set")
            t.setflags(write=False)
            o.setflags(write=False)
            train.append(t)
            out.append(o)
        seeds = tuple(_seed(s) for s in self.seeds)
        object.__setattr__(self, "n_pool", n_pool)
        object.__setattr__(self, "train_indices", tuple(train))
        object.__setattr__(self, "out_indices", tuple(out))
        object.__setattr__(self, "seeds", seeds)

    @property
    def num_models(self) -> int:
        return len(self.train_indices)

    def _matrix(self, indices: tuple[np.ndarray, ...]) -> np.ndarray:
        m = np.zeros((self.n_pool, self.num_models), dtype=bool)
        for j, idx in enumerate(indices):
            m[idx, j] = True
        return m

    def membership(self) -> np.ndarray:
        """Bool (n_pool, num_models): True where record i trains model j."""
        return self._matrix(self.train_indices)

    def out_membership(self) -> np.ndarray:
        """Bool (n_pool, num_models): True where record i is a designated non-member of j."""
        return self._matrix(self.out_indices)


def random_plan(n_pool: int, num_models: int, *, seed: int, pkeep: float = 0.5) -> ReferencePlan:
    """LiRA/RMIA plan: every record IN for exactly ``int(pkeep * num_models)`` models.

    As in the LiRA reference code (Carlini et al. 2022, mi_lira_2021/train.py)::

        keep = rng.uniform(size=(num_models, n_pool)); order = keep.argsort(0)
        keep = order < int(pkeep * num_models)

    With ``num_models == 1`` the single model trains on a random ``round(pkeep * n_pool)``
    records (a random half by default).

    Raises:
        ConfigError: non-positive sizes, ``pkeep`` outside (0, 1), or a ``pkeep`` for which
            some record would be IN for no model or for every model.
    """
    n_pool = _positive_int(n_pool, "n_pool")
    num_models = _positive_int(num_models, "num_models")
    seed = _seed(seed)
    if isinstance(pkeep, bool) or not isinstance(pkeep, int | float) or not 0 < pkeep < 1:
        raise ConfigError(f"pkeep must be a number in (0, 1), got {pkeep!r}")
    plan_ss, seed_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(plan_ss)
    if num_models == 1:
        n_in = round(pkeep * n_pool)
        if not 0 < n_in < n_pool:
            raise ConfigError(
                f"pkeep={pkeep} of a pool of {n_pool} records leaves no IN or no OUT record"
            )
        keep = np.zeros((1, n_pool), dtype=bool)
        keep[0, rng.permutation(n_pool)[:n_in]] = True
    else:
        n_in = int(pkeep * num_models)
        if not 0 < n_in < num_models:
            raise ConfigError(
                f"pkeep={pkeep} with {num_models} models makes every record IN for {n_in} "
                "models; each record needs at least one IN and one OUT model (use more "
                "models or a pkeep nearer 0.5)"
            )
        order = rng.uniform(size=(num_models, n_pool)).argsort(0)
        keep = order < n_in
    idx = np.arange(n_pool, dtype=np.int64)
    return ReferencePlan(
        n_pool=n_pool,
        train_indices=tuple(idx[row] for row in keep),
        out_indices=tuple(idx[~row] for row in keep),
        seeds=model_seeds(seed_ss, num_models),
        kind="random",
    )


def shadow_plan(n_pool: int, num_models: int, *, train_size: int, seed: int) -> ReferencePlan:
    """Shokri et al. 2017 shadow plan: per model, disjoint in and out sets of ``train_size``.

    Each model draws ``2 * train_size`` pool records without replacement; the first half
    trains it, the second half is its out set. Different models may share records.

    Raises:
        ConfigError: non-positive sizes. DataError: ``2 * train_size > n_pool``.
    """
    n_pool = _positive_int(n_pool, "n_pool")
    num_models = _positive_int(num_models, "num_models")
    train_size = _positive_int(train_size, "train_size")
    seed = _seed(seed)
    if 2 * train_size > n_pool:
        raise DataError(
            f"shadow models need 2 * train_size = {2 * train_size} distinct records (in and "
            f"out sets) but the pool has {n_pool}; use train_size <= {n_pool // 2}"
        )
    plan_ss, seed_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(plan_ss)
    train, out = [], []
    for _ in range(num_models):
        draw = rng.choice(n_pool, size=2 * train_size, replace=False).astype(np.int64)
        train.append(np.sort(draw[:train_size]))
        out.append(np.sort(draw[train_size:]))
    return ReferencePlan(
        n_pool=n_pool,
        train_indices=tuple(train),
        out_indices=tuple(out),
        seeds=model_seeds(seed_ss, num_models),
        kind="shadow",
    )
