"""``owner_audit``: a data owner's "were my records used?" with a p-value (issue 13).

The owner's records and reference non-members are scored by one attack in a single audit
(:func:`miaudit.audit`, the owner's records in the members' place), then compared by
:func:`~miaudit.owner.owner_test`. Every attack scores each record from the target's
answers and from what it fitted on other data (reference models trained on random halves
of the owner's and reference records alike, or on the attacker's population), so under H0
the two groups' scores are exchangeable and the rank test's p-value is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.owner._test import TESTS, OwnerTest, min_p_value, owner_test
from miaudit.validation import check_number


@dataclass
class OwnerAudit:
    """The answer of an owner audit: the test, the attack that scored the records, and the
    scores (owner's, reference non-members')."""

    test: OwnerTest
    attack: str
    owner_scores: np.ndarray
    reference_scores: np.ndarray

    def summary(self) -> str:
        t = self.test
        lines = [
            t.answer(),
            f"test: {t.test} ({t.method}), p = {t.p_value:.4g}, alpha = {t.alpha:g}, "
            f"AUC (owner above reference) = {t.auc:.3f}"
            + (f", Cohen's d = {t.cohens_d:.3f}" if t.cohens_d is not None else ""),
            f"records: {t.n_owner} owner, {t.n_reference} reference non-members; attack: "
            f"{self.attack}",
            f"assumptions: {t.assumptions}",
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"attack": self.attack, **self.test.to_dict()}


def default_attack(reference: Any, population: Any) -> str:
    """The strongest calibrated attack the audit can run: RMIA with reference models and
    population records, LiRA with reference models only, else the loss attack."""
    if reference is not None and population is not None:
        return "rmia"
    if reference is not None:
        return "lira"
    return "loss"


def _pair(value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DataError(f"{what} must be a pair (x, y)")
    x, y = np.asarray(value[0]), np.asarray(value[1])
    if x.ndim == 0 or y.shape != (x.shape[0],):
        raise DataError(f"{what}: {x.shape} records but labels of shape {y.shape}")
    return x, y


def _check_groups(owner: tuple, reference: tuple) -> None:
    (xo, yo), (xr, yr) = owner, reference
    if xo.shape[1:] != xr.shape[1:]:
        raise DataError(
            f"the owner's records have shape {xo.shape[1:]}, the reference non-members "
            f"{xr.shape[1:]}: they must be records of the same kind"
        )
    extra = sorted(set(np.unique(yo).tolist()) - set(np.unique(yr).tolist()))
    if extra:
        raise DataError(
            f"the owner's records have labels {extra[:5]} that no reference non-member has: "
            "the reference records must come from the same distribution"
        )
    flat_o = np.ascontiguousarray(xo.reshape(len(xo), -1))
    flat_r = np.ascontiguousarray(xr.reshape(len(xr), -1))
    seen = {row.tobytes() for row in flat_r}
    shared = sum(row.tobytes() in seen for row in flat_o)
    if shared:
        raise DataError(
            f"{shared} of the owner's records are also among the reference non-members; the "
            "reference records must be known non-members, disjoint from the owner's"
        )


def owner_audit(
    model: Any,
    *,
    owner: tuple[np.ndarray, np.ndarray],
    reference_nonmembers: tuple[np.ndarray, np.ndarray],
    attack: str | dict[str, Any] | None = None,
    population: tuple[np.ndarray, np.ndarray] | None = None,
    reference: Any = None,
    alpha: float = 0.05,
    test: str = "mann_whitney",
    seed: int = 0,
    progress: bool = False,
) -> OwnerAudit:
    """Were the owner's records used to train ``model``? (H0: none was.)

    Args:
        model: any target :func:`miaudit.audit` takes.
        owner: the owner's records ``(x, y)``.
        reference_nonmembers: records known not to be in training, from the same
            distribution, disjoint from the owner's.
        attack: an attack name or ``{"name": ..., **params}``; None picks
            :func:`default_attack`.
        population, reference: the attacker's records and reference-model settings
            (:class:`miaudit.pipeline.ReferenceSettings`), as for :func:`miaudit.audit`.
        alpha, test: the level and the test ("mann_whitney", the default, or "welch").

    Raises:
        DataError: overlapping or mismatched groups, or too few reference non-members for
            the test to reach ``alpha`` (checked before anything is queried).
    """
    from miaudit.pipeline.api import audit

    if test not in TESTS:
        raise ConfigError(f"unknown owner test {test!r}; choose one of {', '.join(TESTS)}")
    alpha = float(check_number(alpha, "alpha", low=0, high=1, closed="neither"))
    own = _pair(owner, "owner")
    ref = _pair(reference_nonmembers, "reference_nonmembers")
    _check_groups(own, ref)
    m, r = len(own[1]), len(ref[1])
    if test == "mann_whitney" and min_p_value(m, r) > alpha:
        owner_test(
            np.zeros(m), np.arange(r, dtype=float) + 1, alpha=alpha
        )  # raises, naming the need
    if test == "welch" and (m < 2 or r < 2):
        raise DataError("the Welch t-test needs at least 2 owner and 2 reference records")
    spec = attack if attack is not None else default_attack(reference, population)
    name = spec if isinstance(spec, str) else str(spec.get("name"))
    result = audit(
        model,
        members=own,
        nonmembers=ref,
        population=population,
        attacks=[spec],
        reference=reference,
        seed=seed,
        bootstrap=0,
        progress=progress,
        title="Owner audit",
    )
    run = result.attacks[0]
    if run.error is not None or run.scores is None:
        raise DataError(f"owner audit: the attack {name} failed: {run.error}")
    scores = np.asarray(run.scores, dtype=np.float64)
    return OwnerAudit(
        owner_test(scores[:m], scores[m:], test=test, alpha=alpha, seed=seed),
        name,
        scores[:m],
        scores[m:],
    )
