"""The audited records, checked before anything is queried: members, non-members and the
attacker's population as arrays of one record shape, labels of the model's classes, no record
in two sets (issue 9 item 5), one id per record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.data.integrity import check_disjoint, check_features
from miaudit.errors import DataError
from miaudit.outputs import check_labels
from miaudit.targets import Target


@dataclass(frozen=True)
class Inputs:
    """The audit's records, checked: members, non-members, the attacker's population."""

    x_in: np.ndarray
    y_in: np.ndarray
    x_out: np.ndarray
    y_out: np.ndarray
    population: tuple[np.ndarray, np.ndarray] | None
    record_ids: np.ndarray


def check_inputs(
    target: Target,
    members: Any,
    nonmembers: Any,
    population: Any,
    record_ids: np.ndarray | None,
) -> Inputs:
    """The records as arrays of matching shapes, disjoint, with labels of the model's classes."""
    known_classes = target_classes(target)
    x_in, y_in = check_pair(members, "members", known_classes)
    x_out, y_out = check_pair(nonmembers, "nonmembers", known_classes)
    if x_in.shape[1:] != x_out.shape[1:]:
        raise DataError(
            f"members and non-members have different record shapes: {x_in.shape[1:]} vs "
            f"{x_out.shape[1:]}"
        )
    population_pair = None
    if population is not None:
        population_pair = check_pair(population, "population", known_classes)
        if population_pair[0].shape[1:] != x_in.shape[1:]:
            raise DataError(
                f"population records have shape {population_pair[0].shape[1:]}, "
                f"expected {x_in.shape[1:]}"
            )
    check_disjoint_sets(x_in, x_out, population_pair)
    n = len(y_in) + len(y_out)
    ids = np.arange(n, dtype=np.int64) if record_ids is None else record_ids
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape != (n,):
        raise DataError(f"mismatched lengths: {len(ids)} record ids for {n} records")
    return Inputs(x_in, y_in, x_out, y_out, population_pair, ids)


def check_pair(pair: Any, what: str, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as arrays: real numeric records (complex and object arrays refused), as
    many labels as records, labels that index the model's ``num_classes`` outputs (None:
    not known yet, checked on the outputs)."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise DataError(f"{what} must be a pair (x, y)")
    x, y = np.asarray(pair[0]), np.asarray(pair[1])
    check_features(x, what=f"{what} records x")
    if x.ndim == 0 or y.ndim != 1:
        raise DataError(
            f"{what} must be records x of shape (n, ...) and labels y of shape (n,), "
            f"got {x.shape} and {y.shape}"
        )
    if len(x) != len(y):
        raise DataError(f"mismatched lengths: {what} has {len(x)} records but {len(y)} labels")
    if len(x) == 0:
        singular = {"members": "member", "nonmembers": "non-member"}.get(what, what)
        raise DataError(f"empty {singular} set: {what} has no records")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what} labels must be integer class indices, got dtype {y.dtype}")
    if num_classes is None:  # a torch module's classes are known after its first query,
        # whose outputs check the labels' range; integers >= 0 can be checked now
        y = check_labels(y, np.iinfo(np.int64).max, what=f"{what} labels")
        if y.min() < 0:
            raise DataError(f"{what} labels must be class indices >= 0, found {int(y.min())}")
    else:
        y = check_labels(y, num_classes, what=f"{what} labels")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise DataError(f"{what} records contain NaN or inf")
    return x, y


def target_classes(target: Target) -> int | None:
    """The target's number of classes, or None while it is unknown (a torch module given
    without ``num_classes`` learns it from its first query)."""
    try:
        return target.num_classes
    except DataError:
        return None


def check_disjoint_sets(
    x_in: np.ndarray, x_out: np.ndarray, population: tuple[np.ndarray, np.ndarray] | None
) -> None:
    """Refuse members, non-members and population that share a record (exact duplicates,
    labels ignored; issue 9 item 5): an overlap makes the sets indistinguishable by
    construction and the audit would report AUC 0.5 whatever the model leaks."""
    sets = {"members": x_in, "nonmembers": x_out}
    if population is not None:
        sets["population"] = population[0]
    check_disjoint(sets)
