"""Measuring an attack on released means: many seeded cohorts, members and non-members in
equal numbers, scored into miaudit's metrics (:func:`miaudit.metrics.evaluate_scores`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from miaudit.aggregate._base import AggregateAttack
from miaudit.aggregate._checks import check_count, check_unit_matrix
from miaudit.aggregate._simulate import draw_cohorts
from miaudit.aggregate.release import EXACT, ReleaseMechanism
from miaudit.errors import ConfigError
from miaudit.metrics import AttackMetrics, evaluate_scores


@dataclass(frozen=True)
class AggregateEvaluation:
    """Metrics of each attack on the same cohorts and target records.

    ``metrics[name]`` is the attack's :class:`~miaudit.metrics.AttackMetrics`; ``seconds[name]``
    its fit + scoring time; ``noise_scale`` the per-feature noise scale of each release.
    """

    metrics: dict[str, AttackMetrics]
    seconds: dict[str, float]
    cohort_size: int
    n_cohorts: int
    n_members: int
    n_nonmembers: int
    n_reference: int
    n_pool: int
    mechanism: ReleaseMechanism
    noise_scale: float


def evaluate_aggregate_attack(
    attacks: Mapping[str, AggregateAttack],
    x: ArrayLike,
    *,
    cohort_size: int,
    mechanism: ReleaseMechanism = EXACT,
    n_cohorts: int = 250,
    targets_per_cohort: int = 2,
    reference_fraction: float = 0.5,
    levels: Sequence[float] = (0.01,),
    n_resamples: int = 200,
    seed: int = 0,
) -> AggregateEvaluation:
    """Audit attacks on a data holder who releases cohort means of the records ``x``.

    The records are split (seeded) into the attacker's reference set (``reference_fraction``;
    each attack is ``fit`` on it) and the data holder's pool, disjoint. ``n_cohorts`` cohorts of
    ``cohort_size`` are drawn from the pool, each released with ``mechanism``; from each,
    ``targets_per_cohort`` members and as many pool records outside it are scored against its
    release. Returns every attack's metrics on the same draws (AUC and TPR at each of
    ``levels`` with ``n_resamples`` stratified bootstrap intervals).
    """
    data = check_unit_matrix(x, "x")
    if not isinstance(attacks, Mapping) or not attacks:
        raise ConfigError(
            "attacks must be a non-empty mapping of name -> attack, e.g. {'homer': HomerAttack()}"
        )
    if not isinstance(reference_fraction, int | float) or not 0 < reference_fraction < 1:
        raise ConfigError(f"reference_fraction must be in (0, 1), got {reference_fraction!r}")
    n = check_count(cohort_size, "cohort_size")
    mechanism = mechanism.checked()
    order = np.random.default_rng([seed, 0]).permutation(data.shape[0])
    n_ref = int(round(reference_fraction * data.shape[0]))
    reference, pool = data[order[:n_ref]], data[order[n_ref:]]
    if n_ref < 2:
        raise ConfigError(
            f"reference_fraction {reference_fraction} leaves {n_ref} reference "
            "records; the attacker needs at least 2"
        )
    draws = draw_cohorts(
        pool,
        cohort_size=n,
        n_cohorts=check_count(n_cohorts, "n_cohorts"),
        targets_per_cohort=check_count(targets_per_cohort, "targets_per_cohort"),
        mechanism=mechanism,
        rng=np.random.default_rng([seed, 2]),
    )
    metrics: dict[str, AttackMetrics] = {}
    seconds: dict[str, float] = {}
    for name, attack in attacks.items():
        start = time.perf_counter()
        attack.fit(reference)
        scores = attack.score_samples(draws.records, draws.releases, draws.withheld)
        seconds[name] = time.perf_counter() - start
        metrics[name] = evaluate_scores(
            draws.membership, scores, levels=levels, n_resamples=n_resamples, seed=seed
        )
    n_members = int(draws.membership.sum())
    return AggregateEvaluation(
        metrics=metrics,
        seconds=seconds,
        cohort_size=n,
        n_cohorts=int(n_cohorts),
        n_members=n_members,
        n_nonmembers=int(draws.membership.size - n_members),
        n_reference=n_ref,
        n_pool=int(pool.shape[0]),
        mechanism=mechanism,
        noise_scale=mechanism.scale(n, data.shape[1]),
    )
