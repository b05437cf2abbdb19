"""What the audit scores: the union of what the requested attacks read (issue 18).

Each attack declares which outputs it reads (:class:`~miaudit.attacks.Reads`, in its
``requires``): the audited records with or without their augmented views, how many
population records. The target is queried, and each reference request's models are
scored, only on the union of what the attacks that use them read; each attack then gets
its own part (:func:`attack_reference`, :func:`attack_population`), so what an attack sees
does not depend on which other attacks run beside it.

Population records are drawn by :func:`~miaudit.attacks.population_rows` with the audit's
seed: a smaller count is a subset of a larger one, so RMIA's 10,000 z and GMIA's whole
neighbour pool share one scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from miaudit.attacks import Attack, Reads, population_rows
from miaudit.data.augment import Augmentation
from miaudit.outputs import ModelOutputs, ReferenceOutputs


@dataclass(frozen=True)
class AttackReads:
    """One attack's reads, decided for its parameters and the audit's population.

    Attributes:
        reads: its declaration (:attr:`~miaudit.attacks.Needs.reference_reads`).
        population: sorted rows of the population its reference models are scored on
            (empty: none).
        target_population: sorted rows of the population it reads the target's outputs on
            (empty: none; ``Needs.population``).
    """

    reads: Reads
    population: np.ndarray
    target_population: np.ndarray


def attack_reads(attack: Attack, n_population: int, seed: int) -> AttackReads:
    """What ``attack`` reads of an audit with ``n_population`` population records."""
    needs = attack.needs()
    reads = needs.reference_reads
    params = attack.get_params()
    none = np.zeros(0, dtype=np.int64)
    ref_rows = none
    if needs.reference is not None and reads.population != 0 and n_population:
        ref_rows = population_rows(n_population, reads.population_count(params), seed)
    target_rows = none
    if needs.population and n_population:
        # an attack that declares no population count reads the target on all of it
        declared = needs.reads is not None and reads.population != 0
        count = reads.population_count(params) if declared else None
        target_rows = population_rows(n_population, count, seed)
    return AttackReads(reads, ref_rows, target_rows)


def union_rows(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The sorted union of row sets (each from :func:`population_rows`)."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts)).astype(np.int64)


@dataclass(frozen=True)
class RequestReads:
    """What the models of one reference request are scored on: the union of its attacks'.

    Attributes:
        audited, augmented: the audited records; with their augmented views.
        population: sorted population rows (empty: none).
        population_augmented: the population records with their augmented views.
        pool: shadow plans: each shadow's outputs on its in and out records.
    """

    audited: bool
    augmented: bool
    population: np.ndarray
    population_augmented: bool
    pool: bool

    @classmethod
    def union(cls, reads: Sequence[AttackReads]) -> RequestReads:
        return cls(
            audited=any(r.reads.audited for r in reads),
            augmented=any(r.reads.augmented for r in reads),
            population=union_rows([r.population for r in reads]),
            population_augmented=any(r.reads.population_augmented for r in reads),
            pool=any(r.reads.pool for r in reads),
        )


def rows_within(rows: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Positions of ``rows`` (a subset of ``union``, both sorted) within ``union``."""
    pos = np.searchsorted(union, rows)
    if rows.size and (pos.max() >= union.size or not np.array_equal(union[pos], rows)):
        raise AssertionError("population rows outside the scored union")  # a pipeline bug
    return pos


def _plain(outputs: ModelOutputs) -> ModelOutputs:
    return outputs if outputs.augmented is None else replace(outputs, augmented=None)


def attack_reference(
    built: ReferenceOutputs, mine: AttackReads, scored: RequestReads
) -> ReferenceOutputs:
    """The part of a request's reference outputs that one attack reads: its population
    rows of the scored union, without augmented views it does not read."""
    reads = mine.reads
    audited = built.audited if reads.augmented else tuple(_plain(m) for m in built.audited)
    if not built.population or built.foreign is not None or scored.pool:
        population = built.population  # shadow pools and other data sets: as scored
        p_in, p_out = built.population_in, built.population_out
    else:
        pos = rows_within(mine.population, scored.population)
        keep = _plain if not reads.population_augmented else (lambda m: m)
        population = tuple(keep(m.subset(pos)) for m in built.population) if pos.size else ()
        p_in, p_out = built.population_in[pos], built.population_out[pos]
    return replace(
        built, audited=audited, population=population, population_in=p_in, population_out=p_out
    )


def attack_population(
    outputs: ModelOutputs | None, mine: AttackReads, scored: np.ndarray
) -> ModelOutputs | None:
    """The target's population outputs one attack reads (its rows of the scored union)."""
    if outputs is None or mine.target_population.size == 0:
        return None
    if mine.target_population.size == scored.size:
        return outputs
    return outputs.subset(rows_within(mine.target_population, scored))


@dataclass(frozen=True)
class Scoring:
    """What this audit scored, for results.json (``scoring``).

    Attributes:
        augmentation: the augmented views of the audited records (None: none).
        augmentation_source: how they were chosen (the data kind's default, the config).
        target_augmented: the target was queried on them (an attack reads them).
        population: population records the attacker holds.
        target_population: of them, the records the target was queried on.
        reference_population: per reference request, the number of population records its
            models were scored on (random plans), or what its shadows were scored on.
    """

    augmentation: Augmentation | None
    augmentation_source: str
    target_augmented: bool
    population: int
    target_population: int
    reference_population: dict[str, int | str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "augment": None if self.augmentation is None else self.augmentation.to_dict(),
            "augment_source": self.augmentation_source,
            "target_augmented": self.target_augmented,
            "population": self.population,
            "target_population": self.target_population,
            "reference_population": dict(self.reference_population),
        }
