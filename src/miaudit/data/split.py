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


def split_by_indices(
    canonical: np.ndarray,
    kept: np.ndarray,
    *,
    members: np.ndarray,
    nonmembers: np.ndarray | int,
    population: int | None = None,
    seed: int,
) -> tuple[MembershipSplit, int]:
    """A split whose members (and non-members) the user lists, for a model miaudit did
    not train (a saved file, an endpoint) or a target to train on records of the user's
    choice.

    Indices refer to the data set as loaded. ``canonical[i]`` is the loaded index of the
    first copy of record ``i`` (its exact duplicates share it, see
    :func:`miaudit.data.integrity.record_ids`) and ``kept`` the sorted loaded indices of the
    first copies, the data set after duplicates are dropped; the split returned holds
    positions into ``kept``. A member listed twice through a duplicate counts once; a
    member identical to a listed non-member is a DataError, as the audit could not tell
    the two apart. ``nonmembers`` as a count draws them, seeded, from the records outside
    ``members``; the population is the rest (``population`` records of it, drawn seeded).
    Returns the split and the number of listed records that were duplicates of others.
    """
    n_loaded = len(canonical)
    given_members = _listed(members, "split.members", n_loaded)
    pos_members, dup_members = _positions(canonical, kept, given_members)
    rest = np.setdiff1d(np.arange(len(kept)), pos_members)
    rng = np.random.default_rng(_count(seed, "seed"))
    if isinstance(nonmembers, (int, np.integer)):
        count = _count(nonmembers, "split.nonmembers")
        if not 1 <= count <= rest.size:
            raise DataError(
                f"split.nonmembers {count} must be between 1 and the {rest.size} records "
                "outside split.members"
            )
        pos_nonmembers, dup_nonmembers = np.sort(rng.permutation(rest)[:count]), 0
    else:
        given = _listed(nonmembers, "split.nonmembers", n_loaded)
        shared = np.intersect1d(given_members, given)
        if shared.size:
            raise DataError(
                f"split.members and split.nonmembers both list {shared.size} record(s) "
                f"(indices {_head(shared)})"
            )
        pos_nonmembers, dup_nonmembers = _positions(canonical, kept, given)
        same = np.intersect1d(pos_members, pos_nonmembers)
        if same.size:
            raise DataError(
                f"{same.size} listed non-member(s) are exact copies of listed members "
                f"(data set indices {_head(kept[same])}): the audit cannot tell them apart; "
                "remove them from one of the two lists"
            )
    left = np.setdiff1d(rest, pos_nonmembers)
    if population is None:
        pos_population = left
    else:
        population = _count(population, "split.population")
        if not 0 <= population <= left.size:
            raise DataError(
                f"split.population {population} must be between 0 and the {left.size} "
                "records outside split.members and split.nonmembers"
            )
        pos_population = np.sort(rng.permutation(left)[:population])
    split = MembershipSplit(
        members=pos_members, nonmembers=pos_nonmembers, population=pos_population, seed=seed
    )
    return split, dup_members + dup_nonmembers


def _listed(values: np.ndarray, what: str, n: int) -> np.ndarray:
    """User-listed record indices: integers in [0, n), none repeated."""
    arr = _as_indices(np.asarray(values), what)
    if arr.size == 0:
        raise DataError(f"{what} lists no records")
    if arr.max() >= n:
        raise DataError(
            f"{what} lists index {int(arr.max())}, but the data set has {n} records "
            f"(indices 0..{n - 1})"
        )
    return np.sort(arr)


def _positions(
    canonical: np.ndarray, kept: np.ndarray, given: np.ndarray
) -> tuple[np.ndarray, int]:
    """Positions in ``kept`` of the first copies of the ``given`` records, and how many
    given records collapsed onto another given record's first copy."""
    first = np.unique(canonical[given])
    return np.searchsorted(kept, first).astype(np.int64), int(given.size - first.size)


def _head(indices: np.ndarray, show: int = 5) -> str:
    head = ", ".join(str(int(i)) for i in indices[:show])
    return head + (", ..." if indices.size > show else "")


def read_index_list(source: str | list[int] | tuple[int, ...], *, what: str) -> np.ndarray:
    """Record indices from a config: a list of integers, a ``.npy`` file of a 1-d integer
    array, or a text file of one integer per line (``#`` comments and blank lines ignored;
    ``.txt``, ``.csv`` or any other name)."""
    from pathlib import Path

    if isinstance(source, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in source):
            raise DataError(f"{what} must list integer record indices")
        return np.asarray(source, dtype=np.int64)
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{what}: no file {str(path)!r} of record indices")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{what}: {path} is not a readable .npy array ({exc})") from None
        return _as_indices(arr, f"{what} ({path})")
    values = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip().rstrip(",")
        if not text:
            continue
        try:
            values.append(int(text))
        except ValueError:
            raise DataError(
                f"{what}: {path} line {number} is not an integer record index: {line!r}"
            ) from None
    return np.asarray(values, dtype=np.int64)
