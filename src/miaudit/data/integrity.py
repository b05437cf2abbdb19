"""Checks that make an audit's data mean what it claims (issue 9, items 5 and 6).

**Record identity.** Two records are *the same record* when their features are equal value
for value (compared in one common dtype, so ``uint8`` 1 equals ``float32`` 1.0, and -0.0
equals 0.0); the label is not part of a record's identity. A model that trained on ``x``
has seen ``x`` whatever label came with it, so a "non-member" with the same features as a
member (even under another label, as in data with label noise) is not a record the model
never saw, and a population record equal to a member is not a known non-member. Such
overlaps make members and non-members indistinguishable by construction (an audit of
identical sets reports AUC 0.5 however much the model leaks); they are refused.

Exact duplicates *within* one set (the same record twice among the members) are not an
overlap: training on a record twice, or holding two copies of a non-member, is a fact about
the data, not an error in the split, and is left alone without a warning. Near-duplicates
(records that differ in a few features, rescaled or re-encoded copies) are not detected:
what counts as "the same person" beyond exact equality is the data owner's judgement.

**Labels.** A data set miaudit trains on has its labels encoded as 0..C-1 (sorted original
values; the mapping is kept); labels that would need more than :data:`MAX_CLASSES` classes
are refused before anything of that size is allocated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError

#: The most classes miaudit accepts. The largest label spaces of the membership-inference
#: literature are far below it (ImageNet-21k: 21,841 classes); beyond it a single float64
#: output matrix of 10,000 records needs 8 GB, and such "labels" are almost always ids or
#: codes that were meant to be remapped (labels {0, 1, 2**31} once tried to allocate 137 GB).
MAX_CLASSES = 100_000

# Rows are hashed CHUNK_BYTES at a time (the temporaries stay small on any data set).
_CHUNK_BYTES = 1 << 24
# Fixed multipliers of the row hash: results never depend on the run.
_HASH_SEED = 0x6D69_6175_6469_74


def check_num_classes(num_classes: int, *, what: str) -> int:
    """``num_classes`` as an int, refused when above :data:`MAX_CLASSES` (one-line error)."""
    num_classes = int(num_classes)
    if num_classes > MAX_CLASSES:
        raise DataError(
            f"{what} would need {num_classes:,} classes, more than the {MAX_CLASSES:,} "
            "miaudit supports; encode the labels as 0..C-1 "
            "(e.g. np.unique(y, return_inverse=True)[1])"
        )
    return num_classes


def check_features(x: np.ndarray, *, what: str) -> None:
    """Refuse record arrays that are not real numbers: complex values (their imaginary part
    would be dropped by the float conversion, issue 9 item 6), objects, strings, dates."""
    dtype = np.asarray(x).dtype
    if dtype.kind == "c":
        raise DataError(
            f"{what} are complex numbers ({dtype}); miaudit audits real-valued features: "
            "split each complex feature into its real and imaginary parts"
        )
    if dtype.kind not in "biuf":
        raise DataError(
            f"{what} must be a numeric array, got dtype {dtype}; convert the "
            "records to numbers (e.g. x.astype(np.float32)) before auditing"
        )


def encode_labels(y: np.ndarray, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels encoded as 0..C-1: ``(codes int64, classes)``, ``classes[codes] == y``.

    ``classes`` are the distinct original values, sorted. Non-integer labels are refused
    (never rounded), as are labels with more than :data:`MAX_CLASSES` distinct values.
    """
    y = np.asarray(y)
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{source}: labels y must be integers, got dtype {y.dtype}; "
            "save them with y.astype(np.int64)"
        )
    if y.ndim != 1 or y.size == 0:
        raise DataError(f"{source}: y must be a non-empty 1-d array, got shape {y.shape}")
    classes, codes = np.unique(y, return_inverse=True)
    check_num_classes(classes.size, what=f"{source}: {classes.size:,} distinct labels")
    return codes.astype(np.int64).reshape(-1), classes.astype(np.int64)


# --- exact duplicates --------------------------------------------------------------------------


def _common_dtype(arrays: Sequence[np.ndarray]) -> np.dtype:
    dtype = np.result_type(*arrays)
    if dtype.kind not in "biuf":
        raise DataError(f"records must be numeric to compare them, got dtype {dtype}")
    return dtype


def _normalised(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Rows of ``block`` flattened, in ``dtype``, C-contiguous, -0.0 turned into 0.0 (a new
    array: the caller's data are never modified)."""
    rows = block.reshape(len(block), -1).astype(dtype, copy=True)
    if dtype.kind == "f":
        rows += dtype.type(0)  # -0.0 + 0.0 == +0.0, so equal values have equal bytes
    return np.ascontiguousarray(rows)


def _word_dtype(row_bytes: int) -> np.dtype:
    for size in (8, 4, 2):
        if row_bytes % size == 0:
            return np.dtype(f"<u{size}")
    return np.dtype(np.uint8)


def _row_keys(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Two 64-bit hashes per row, (n, 2) uint64: equal records get equal keys.

    Each row's bytes (after :func:`_normalised`) are read as unsigned words, 64-bit words
    are xor-shifted (a bijection that brings high-bit differences into the low bits), and
    the key is the dot product with fixed random odd multipliers modulo 2**64: one integer
    matrix product per chunk, no Python loop per record. Unequal records may collide (a
    probability around 2**-64 per pair); :func:`record_ids` checks candidates byte for byte.
    """
    n = len(x)
    row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * dtype.itemsize
    word = _word_dtype(row_bytes)
    n_words = row_bytes // word.itemsize
    rng = np.random.default_rng(_HASH_SEED)
    mult = rng.integers(0, np.iinfo(np.int64).max, size=(n_words, 2), dtype=np.uint64)
    mult |= np.uint64(1)
    keys = np.empty((n, 2), dtype=np.uint64)
    step = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    for start in range(0, n, step):
        rows = _normalised(x[start : start + step], dtype)
        words = rows.view(word)
        if word.itemsize == 8:
            words = words ^ (words >> np.uint64(32))
        else:
            words = words.astype(np.uint64)
        keys[start : start + step] = words @ mult  # uint64 arithmetic wraps modulo 2**64
    return keys


class _Rows:
    """Row access by global index across several arrays of the same record shape."""

    def __init__(self, arrays: Sequence[np.ndarray], dtype: np.dtype) -> None:
        self.arrays = arrays
        self.dtype = dtype
        self.offsets = np.cumsum([0, *(len(a) for a in arrays)])

    def take(self, index: np.ndarray) -> np.ndarray:
        part = np.searchsorted(self.offsets, index, side="right") - 1
        row_shape = self.arrays[0].shape[1:]
        out = np.empty((len(index), int(np.prod(row_shape, dtype=np.int64))), self.dtype)
        for p, arr in enumerate(self.arrays):
            sel = part == p
            if np.any(sel):
                out[sel] = _normalised(arr[index[sel] - self.offsets[p]], self.dtype)
        return out


def record_ids(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """An int64 id per record of each array such that two records (in the same or in
    different arrays) have the same id exactly when they are the same record (equal
    features, see the module docstring). Arrays must share the record shape ``x.shape[1:]``.
    """
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return []
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"records of different shapes cannot be compared: {sorted(shapes)}")
    dtype = _common_dtype(arrays)
    keys = np.concatenate([_row_keys(a, dtype) for a in arrays])
    total = len(keys)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    sorted_keys = keys[order]
    new_group = np.ones(total, dtype=bool)
    new_group[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    group = np.cumsum(new_group) - 1
    first = order[new_group][group]  # each row's representative: first of its key group
    ids = np.empty(total, dtype=np.int64)
    ids[order] = first
    _confirm(ids, _Rows(arrays, dtype))
    bounds = np.cumsum([0, *(len(a) for a in arrays)])
    return [ids[bounds[i] : bounds[i + 1]] for i in range(len(arrays))]


def _confirm(ids: np.ndarray, rows: _Rows) -> None:
    """Check byte for byte that every record equals the representative its key gave it;
    re-group exactly (in place) the rare records whose keys collided."""
    candidates = np.flatnonzero(ids != np.arange(len(ids)))
    if candidates.size == 0:
        return
    step = max(1, _CHUNK_BYTES // max(rows.take(candidates[:1]).nbytes, 1))
    collided = []
    for start in range(0, candidates.size, step):
        idx = candidates[start : start + step]
        same = np.all(rows.take(idx) == rows.take(ids[idx]), axis=1)
        collided.append(idx[~same])
    bad = np.concatenate(collided)
    if bad.size == 0:
        return
    affected = np.flatnonzero(np.isin(ids, ids[bad]))  # every row of a collided key group
    block = rows.take(affected)
    void = block.view(np.dtype((np.void, block.shape[1] * block.itemsize))).ravel()
    _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
    ids[affected] = affected[first][inverse.reshape(-1)]


def first_occurrences(x: np.ndarray) -> np.ndarray:
    """Sorted indices of the first occurrence of each distinct record of ``x``."""
    (ids,) = record_ids([x])
    return np.flatnonzero(ids == np.arange(len(ids)))


@dataclass(frozen=True)
class Overlap:
    """Records that two sets share: their row indices in each set (sorted)."""

    first: str
    second: str
    rows_first: np.ndarray
    rows_second: np.ndarray

    def describe(self, show: int = 5) -> str:
        def rows(r: np.ndarray) -> str:
            head = ", ".join(str(int(i)) for i in r[:show])
            return head + (", ..." if r.size > show else "")

        return (
            f"{self.first} and {self.second} share {self.rows_first.size} identical record(s) "
            f"({self.first} rows {rows(self.rows_first)}; "
            f"{self.second} rows {rows(self.rows_second)})"
        )


def find_overlaps(sets: Mapping[str, np.ndarray]) -> list[Overlap]:
    """Every pair of the named record sets that shares a record (exact, labels ignored)."""
    names = list(sets)
    ids = dict(zip(names, record_ids([sets[n] for n in names]), strict=True))
    found = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = np.intersect1d(ids[a], ids[b])
            if shared.size:
                found.append(
                    Overlap(
                        a,
                        b,
                        np.flatnonzero(np.isin(ids[a], shared)),
                        np.flatnonzero(np.isin(ids[b], shared)),
                    )
                )
    return found


def check_disjoint(sets: Mapping[str, np.ndarray]) -> None:
    """Refuse (DataError) named record sets that share a record, naming the sets, how many
    records they share and the first rows of each (see the module docstring)."""
    overlaps = find_overlaps(sets)
    if overlaps:
        raise DataError(
            "; ".join(o.describe() for o in overlaps)
            + ". Members, non-members and population must not share records (overlapping "
            "sets cannot be told apart): remove the duplicates from one set (records are "
            "compared exactly by their features, whatever their labels)"
        )
