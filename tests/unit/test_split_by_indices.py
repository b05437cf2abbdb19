"""Splits whose members the user lists (a model miaudit did not train): positions, the
duplicates rule and the errors, checked against an obvious loop."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.data.integrity import record_ids
from miaudit.data.split import read_index_list, split_by_indices
from miaudit.errors import DataError


def _dataset_with_duplicates(n: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1000, size=(n, 3)).astype(np.float32)
    x[10] = x[3]  # record 10 is a copy of record 3
    x[25] = x[3]
    x[40] = x[7]
    return x


def _canonical(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (canonical,) = record_ids([x])
    return canonical, np.flatnonzero(canonical == np.arange(len(canonical)))


def _slow_positions(x: np.ndarray, kept: np.ndarray, given: list[int]) -> list[int]:
    """The obvious way: each given record's first identical copy, as a position in kept."""
    out = set()
    for i in given:
        first = next(j for j in range(len(x)) if np.array_equal(x[j], x[i]))
        out.add(int(np.flatnonzero(kept == first)[0]))
    return sorted(out)


def test_listed_sets_map_to_first_copies_like_a_loop():
    x = _dataset_with_duplicates()
    canonical, kept = _canonical(x)
    members, nonmembers = [0, 3, 10, 12, 40], [5, 6, 30]
    split, duplicates = split_by_indices(
        canonical, kept, members=np.array(members), nonmembers=np.array(nonmembers), seed=1
    )
    assert split.members.tolist() == _slow_positions(x, kept, members)
    assert split.nonmembers.tolist() == _slow_positions(x, kept, nonmembers)
    assert duplicates == 1  # 10 is a copy of the listed member 3
    # the population: every other first copy, none of the listed records' copies
    used = set(split.members.tolist()) | set(split.nonmembers.tolist())
    assert split.population.tolist() == [p for p in range(len(kept)) if p not in used]


def test_member_copy_listed_as_nonmember_is_refused():
    x = _dataset_with_duplicates()
    canonical, kept = _canonical(x)
    with pytest.raises(DataError, match="exact copies of listed members"):
        split_by_indices(
            canonical, kept, members=np.array([3, 4]), nonmembers=np.array([25, 5]), seed=0
        )


@pytest.mark.parametrize(
    ("members", "nonmembers", "message"),
    [
        ([1, 2, 2], [5], "repeated indices"),
        ([1, 60], [5], "lists index 60, but the data set has 60 records"),
        ([1, -1], [5], "negative indices"),
        ([1, 2], [2, 5], "both list 1 record"),
        ([], [5], "lists no records"),
    ],
)
def test_bad_lists_are_refused(members, nonmembers, message):
    x = _dataset_with_duplicates()
    canonical, kept = _canonical(x)
    with pytest.raises(DataError, match=message):
        split_by_indices(
            canonical,
            kept,
            members=np.array(members, dtype=np.int64),
            nonmembers=np.array(nonmembers, dtype=np.int64),
            seed=0,
        )


def test_nonmember_count_and_population_are_seeded_draws_outside_the_lists():
    x = _dataset_with_duplicates()
    canonical, kept = _canonical(x)
    members = np.array([0, 1, 2, 3])
    a, _ = split_by_indices(canonical, kept, members=members, nonmembers=8, population=5, seed=7)
    b, _ = split_by_indices(canonical, kept, members=members, nonmembers=8, population=5, seed=7)
    assert a == b
    assert len(a.nonmembers) == 8 and len(a.population) == 5
    assert not set(a.nonmembers) & set(a.members)
    with pytest.raises(DataError, match="split.population 99 must be between 0 and"):
        split_by_indices(canonical, kept, members=members, nonmembers=8, population=99, seed=0)


def test_index_files(tmp_path):
    np.save(tmp_path / "m.npy", np.array([4, 2, 9]))
    (tmp_path / "m.txt").write_text("# members\n4\n2,\n\n9\n")
    (tmp_path / "bad.txt").write_text("4\nfour\n")
    assert read_index_list(str(tmp_path / "m.npy"), what="m").tolist() == [4, 2, 9]
    assert read_index_list(str(tmp_path / "m.txt"), what="m").tolist() == [4, 2, 9]
    assert read_index_list([1, 2], what="m").tolist() == [1, 2]
    with pytest.raises(DataError, match="line 2 is not an integer record index"):
        read_index_list(str(tmp_path / "bad.txt"), what="m")
    np.save(tmp_path / "f.npy", np.array([1.5, 2.0]))
    with pytest.raises(DataError, match="1-d array of integer indices"):
        read_index_list(str(tmp_path / "f.npy"), what="m")
