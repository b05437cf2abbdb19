"""Drawing cohorts, their releases and in/out target records (shared by the Pyrgelis attacker's
training and the evaluation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.aggregate.release import ReleaseMechanism
from miaudit.errors import ConfigError


@dataclass(frozen=True)
class CohortDraws:
    """One row per (cohort, target record): the record, the release of its cohort, the
    release's withheld mask, whether the record was in the cohort, and the cohort's number."""

    records: np.ndarray  # (K, d) float64
    releases: np.ndarray  # (K, d) float64
    withheld: np.ndarray  # (K, d) bool
    membership: np.ndarray  # (K,) bool
    cohort: np.ndarray  # (K,) int


def draw_cohorts(
    x: np.ndarray,
    *,
    cohort_size: int,
    n_cohorts: int,
    targets_per_cohort: int,
    mechanism: ReleaseMechanism,
    rng: np.random.Generator,
) -> CohortDraws:
    """``n_cohorts`` cohorts of ``cohort_size`` records drawn without replacement from ``x``;
    each releases its means through ``mechanism``; from each, ``targets_per_cohort`` members
    (drawn from the cohort) and as many non-members (drawn from the records of ``x`` outside
    it), so members and non-members are equal in number."""
    n_pool, d = x.shape
    t = targets_per_cohort
    if cohort_size + t > n_pool:
        raise ConfigError(
            f"cohort_size {cohort_size} plus {t} non-member targets needs at least "
            f"{cohort_size + t} records, but only {n_pool} are available: use a smaller "
            "cohort_size or fewer targets_per_cohort"
        )
    mechanism = mechanism.checked()
    exact = np.empty((n_cohorts, d))
    ins = np.empty((n_cohorts, t), dtype=np.int64)
    outs = np.empty((n_cohorts, t), dtype=np.int64)
    for c in range(n_cohorts):
        perm = rng.permutation(n_pool)
        exact[c] = x[perm[:cohort_size]].mean(axis=0)
        ins[c] = perm[:t]  # a uniform random permutation: its first t are uniform members
        outs[c] = perm[cohort_size : cohort_size + t]
    released, withheld = mechanism.release_exact(exact, cohort_size, rng)
    idx = np.concatenate([ins, outs], axis=1)  # (C, 2t)
    rows = np.repeat(np.arange(n_cohorts), 2 * t)
    membership = np.tile(np.r_[np.ones(t, bool), np.zeros(t, bool)], n_cohorts)
    return CohortDraws(
        records=x[idx.ravel()].astype(np.float64, copy=False),
        releases=released[rows],
        withheld=withheld[rows],
        membership=membership,
        cohort=rows,
    )
