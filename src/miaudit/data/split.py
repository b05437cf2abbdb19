"""Seeded, disjoint membership splits: target members, non-members, attacker's population.

The three-way split follows the evaluation set-up of Shokri et al. 2017 ("Membership
Inference Attacks against Machine Learning Models") and Carlini et al. 2022 ("Membership
Inference Attacks From First Principles"): the target trains on the members, the
non-members come from the same distribution, and the attacker's own data is disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError
from miaudit.validation import check_int


def _as_indices(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise DataError(
            f"{what} must be a 1-d array of integer indices, got {arr.dtype} {arr.shape}"
        )
    if arr.size and arr.min() < 0:
        raise DataError(f"{what} contains negative indices")
    if np.unique(arr).size != arr.size:
        raise DataError(f"{what} contains repeated indices")
    return arr.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class MembershipSplit:
    """Indices into a data set: ``members`` (the target's training set), ``nonmembers``,
    and ``population`` (the attacker's data); pairwise disjoint, int64, sorted by make_split.
    """

    members: np.ndarray
    nonmembers: np.ndarray
    population: np.ndarray
    seed: int

    def __post_init__(self) -> None:
        members = _as_indices(self.members, "members")
        nonmembers = _as_indices(self.nonmembers, "nonmembers")
        population = _as_indices(self.population, "population")
        if members.size == 0:
            raise DataError("empty member set: a split needs at least one member")
        if nonmembers.size == 0:
            raise DataError("empty non-member set: a split needs at least one non-member")
        for a, b, name_a, name_b in (
            (members, nonmembers, "members", "nonmembers"),
            (members, population, "members", "population"),
            (nonmembers, population, "nonmembers", "population"),
        ):
            shared = np.intersect1d(a, b)
            if shared.size:
                raise DataError(f"{name_a} and {name_b} overlap in {shared.size} indices")
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "nonmembers", nonmembers)
        object.__setattr__(self, "population", population)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MembershipSplit):
            return NotImplemented
        return (
            self.seed == other.seed
            and np.array_equal(self.members, other.members)
            and np.array_equal(self.nonmembers, other.nonmembers)
            and np.array_equal(self.population, other.population)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-content arrays: not hashable


def _count(value: object, what: str) -> int:
    return check_int(value, what, error=DataError)


def make_split(
    n: int,
    *,
    members: int,
    nonmembers: int,
    population: int | None = None,
    seed: int,
) -> MembershipSplit:
    """Draw disjoint member / non-member / population index sets from ``range(n)``.

    One permutation from ``np.random.default_rng(seed)`` is cut into the three sets (each
    returned sorted). ``population=None`` gives the attacker all remaining records.
    """
    n = _count(n, "n")
    members = _count(members, "members")
    nonmembers = _count(nonmembers, "nonmembers")
    seed = _count(seed, "seed")
    if seed < 0:
        raise DataError(f"seed must be >= 0, got {seed}")
    if members < 1:
        raise DataError(f"empty member set: members must be >= 1, got {members}")
    if nonmembers < 1:
        raise DataError(f"empty non-member set: nonmembers must be >= 1, got {nonmembers}")
    if members + nonmembers > n:
        raise DataError(
            f"split sizes too large: members ({members}) + nonmembers ({nonmembers}) = "
            f"{members + nonmembers} exceeds the {n} records of the data set"
        )
    rest = n - members - nonmembers
    if population is None:
        population = rest
    population = _count(population, "population")
    if population < 0:
        raise DataError(f"population must be >= 0, got {population}")
    if population > rest:
        raise DataError(
            f"split sizes too large: members ({members}) + nonmembers ({nonmembers}) + "
            f"population ({population}) = {members + nonmembers + population} exceeds the "
            f"{n} records of the data set; at most {rest} records are left for the population"
        )
    perm = np.random.default_rng(seed).permutation(n)
    cut1, cut2 = members, members + nonmembers
    return MembershipSplit(
        members=np.sort(perm[:cut1]).astype(np.int64),
        nonmembers=np.sort(perm[cut1:cut2]).astype(np.int64),
        population=np.sort(perm[cut2 : cut2 + population]).astype(np.int64),
        seed=seed,
    )
