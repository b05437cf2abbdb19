"""The audit's scoring plan: the augmented views, the population rows the target is queried
on, and what each reference request's models are scored on (issue 18), decided from the
requested attacks' declared reads (:mod:`miaudit.pipeline._reads`) before anything is
queried."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.attacks import Attack, ReferenceRequest
from miaudit.data.augment import Augmentation, resolve_augmentation
from miaudit.errors import MiauditError
from miaudit.pipeline._reads import AttackReads, RequestReads, Scoring, attack_reads, union_rows
from miaudit.pipeline.references import ReferenceSettings, request_label, resolve_request


@dataclass(frozen=True)
class ScoringPlan:
    """What the audit scores.

    Attributes:
        augmentation: the augmented views of the audited images (None: none), and
            ``augmentation_source``, how they were chosen.
        attacks: per attack (by ``id``), what it reads.
        requests: per resolved reference request, the union of its attacks' reads.
        target_augmented: some attack reads the target's augmented views.
        target_population: sorted population rows the target is queried on.
        n_population: population records the attacker holds.
        seed: the audit's seed (the population rows are drawn with it).
    """

    augmentation: Augmentation | None
    augmentation_source: str
    attacks: dict[int, AttackReads]
    requests: dict[ReferenceRequest, RequestReads]
    target_augmented: bool
    target_population: np.ndarray
    n_population: int
    seed: int = 0

    @property
    def augment_fn(self) -> Callable[[np.ndarray], list[np.ndarray]] | None:
        """``views(x)`` of the augmentation, or None."""
        return None if self.augmentation is None else self.augmentation.views

    @property
    def target_augment(self) -> Callable[[np.ndarray], list[np.ndarray]] | None:
        """The views the target is queried on: the augmentation when an attack reads it."""
        return self.augment_fn if self.target_augmented else None

    def scoring(self) -> dict[str, Any]:
        """results.json's ``scoring``: what was scored, and the views."""
        return Scoring(
            augmentation=self.augmentation,
            augmentation_source=self.augmentation_source,
            target_augmented=self.target_augmented and self.augmentation is not None,
            population=self.n_population,
            target_population=int(self.target_population.size),
            reference_population={
                request_label(r): _scored_population(r, s) for r, s in self.requests.items()
            },
        ).to_dict()


def plan_scoring(
    attacks: Sequence[Attack],
    settings: ReferenceSettings,
    *,
    record_shape: tuple[int, ...],
    dataset: str | None,
    n_population: int,
    seed: int,
) -> ScoringPlan:
    """The scoring plan of an audit running ``attacks``.

    Raises:
        ConfigError: ``settings.augment`` asks for views the records cannot have (see
            :func:`~miaudit.data.augment.resolve_augmentation`).
    """
    augmentation, source = resolve_augmentation(settings.augment, record_shape, dataset)
    per_attack = {id(a): attack_reads(a, n_population, seed) for a in attacks}
    grouped: dict[ReferenceRequest, list[AttackReads]] = {}
    for a in attacks:
        request = a.reference_request()
        if request is None:
            continue
        try:
            resolved = resolve_request(request, settings)
        except MiauditError:
            continue  # the attack fails with this error when it asks for its models
        grouped.setdefault(resolved, []).append(per_attack[id(a)])
    return ScoringPlan(
        augmentation=augmentation,
        augmentation_source=source,
        attacks=per_attack,
        requests={r: RequestReads.union(reads) for r, reads in grouped.items()},
        target_augmented=any(r.reads.augmented for r in per_attack.values()),
        target_population=union_rows([r.target_population for r in per_attack.values()]),
        n_population=n_population,
        seed=seed,
    )


def _scored_population(request: ReferenceRequest, scored: RequestReads) -> int | str:
    """results.json's account of a request's population scoring: the number of population
    records (random plans), or what its shadows were scored on (shadow plans)."""
    if request.kind != "shadow":
        return int(scored.population.size)
    return "each shadow's own in and out records" if scored.pool else "none (training losses)"
