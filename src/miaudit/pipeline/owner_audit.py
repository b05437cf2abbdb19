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

from miaudit.errors import ConfigError, DataError, MiauditError
from miaudit.owner._power import POWER_SIZES, power_at, power_curve
from miaudit.owner._test import TESTS, OwnerTest, min_p_value, owner_test
from miaudit.owner._threshold_test import ThresholdTest, threshold_test
from miaudit.owner.duci import UsageEstimate, estimate_usage, target_resemblance
from miaudit.results import PseudoTargetScores
from miaudit.validation import check_number

NO_PSEUDO_TARGETS = (
    "needs an attack with reference models trained on random halves of the audited "
    "records (lira or rmia): they are the models whose use of your records is known"
)


@dataclass
class OwnerAudit:
    """The answer of an owner audit: the test, the attack that scored the records, the
    scores (owner's, reference non-members'), and where the attack has reference models
    trained on random halves of the records, the fraction used (DUCI) and the test's power
    against the number of records (each None with the reason in ``*_note`` otherwise)."""

    test: OwnerTest
    attack: str
    owner_scores: np.ndarray
    reference_scores: np.ndarray
    usage: UsageEstimate | None = None
    usage_note: str | None = None
    power: list[dict[str, Any]] | None = None
    power_note: str | None = None
    resemblance: dict[str, Any] | None = None
    threshold_test: ThresholdTest | None = None

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
        if self.usage is not None:
            lines.insert(1, f"fraction used (DUCI): {self.usage.sentence()}")
        if self.threshold_test is not None:
            th = self.threshold_test
            lines.append(
                f"second test (threshold, Fisher exact): {th.owner_above}/{th.n_owner} of your "
                f"records vs {th.reference_above}/{th.n_reference} reference records above "
                f"the reference models' threshold, p = {th.p_value:.4g}"
            )
        caveat = self.power_caveat()
        if caveat:
            lines.insert(1, caveat)
        elif self.resemblance is not None and self.resemblance["mismatch"]:
            lines.insert(1, self.resemblance["sentence"])
        return "\n".join(lines)

    def power_caveat(self) -> str | None:
        """For a "no evidence" answer, how often the test finds used records of this many
        on models like the target; None when it rejected or no power was measured."""
        if self.test.reject or not self.power:
            return None
        if self.resemblance is not None and self.resemblance["mismatch"]:
            return (
                "The power measured on the reference models does not carry over: "
                + self.resemblance["sentence"]
            )
        row = power_at(self.power, self.test.n_owner)
        if row is None:
            return None
        k, power = row["n_owner"], row["power"]
        weak = power < 0.8
        return (
            f"On reference models like the target, this test finds {k} used record(s) "
            f"{100 * power:.0f}% of the time"
            + (": a 'no evidence' answer says little." if weak else ".")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            **self.test.to_dict(),
            "usage": None if self.usage is None else self.usage.to_dict(),
            "usage_note": self.usage_note,
            "power": self.power,
            "power_note": self.power_note,
            "resemblance": self.resemblance,
            "threshold_test": None
            if self.threshold_test is None
            else self.threshold_test.to_dict(),
        }


def answer_owner(
    scores: np.ndarray,
    is_owner: np.ndarray,
    pseudo: PseudoTargetScores | None,
    *,
    attack: str,
    test: str,
    alpha: float,
    seed: int,
    power_sizes: tuple[int, ...] = POWER_SIZES,
    owners: int = 200,
) -> OwnerAudit:
    """The owner's test on the audited records' scores (``is_owner`` marks the owner's,
    the rest are reference non-members), with DUCI's fraction used and the test's power
    curve from the pseudo-targets when the attack has them."""
    scores = np.asarray(scores, dtype=np.float64)
    own = np.asarray(is_owner, dtype=bool)
    result = OwnerAudit(
        owner_test(scores[own], scores[~own], test=test, alpha=alpha, seed=seed),
        attack,
        scores[own],
        scores[~own],
    )
    if pseudo is None:
        result.usage_note = result.power_note = f"{attack}: {NO_PSEUDO_TARGETS}"
        return result
    out_of_ref = ~pseudo.membership[:, ~own]
    result.resemblance = target_resemblance(scores[~own], pseudo.scores[:, ~own][out_of_ref])
    try:
        result.usage = estimate_usage(
            scores[own],
            pseudo.scores[:, own],
            pseudo.membership[:, own],
            target_nonmember_scores=scores[~own],
            seed=seed,
        )
    except DataError as exc:
        result.usage_note = str(exc)
    else:
        # the threshold is DUCI's, chosen on the pseudo-targets only: the test stays exact
        result.threshold_test = threshold_test(
            scores[own], scores[~own], result.usage.threshold, alpha=alpha
        )
    try:
        result.power = power_curve(
            pseudo.scores,
            pseudo.membership,
            n_reference=int((~own).sum()),
            sizes=power_sizes,
            owners=owners,
            test=test,
            alpha=alpha,
            seed=seed,
        )
    except DataError as exc:
        result.power_note = str(exc)
    return result


def default_attack(reference: Any, population: Any, *, labels_only: bool = False) -> str:
    """The strongest calibrated attack the audit can run: RMIA with reference models and
    population records, LiRA with reference models only, else the loss attack. On a target
    that answers labels only: boundary_distance (Choquette-Choo et al. 2021, the strongest
    label-only attack in BENCHMARKS.md; it starts from population records) with population
    records, else augmentation."""
    if labels_only:
        return "boundary_distance" if population is not None else "augmentation"
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
    power_sizes: tuple[int, ...] = POWER_SIZES,
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
        power_sizes: owner sizes of the power curve (simulated owners on the attack's
            reference models; LiRA and RMIA only).

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
    if attack is None:
        from miaudit.targets import as_target

        try:
            labels_only = "probabilities" not in as_target(model).capabilities
        except MiauditError:  # audit() names the problem with the model below
            labels_only = False
        spec: str | dict[str, Any] = default_attack(reference, population, labels_only=labels_only)
    else:
        spec = attack
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
        pseudo_targets=True,
    )
    run = result.attacks[0]
    if run.error is not None or run.scores is None:
        raise DataError(f"owner audit: the attack {name} failed: {run.error}")
    is_owner = np.arange(m + r) < m
    return answer_owner(
        run.scores,
        is_owner,
        run.pseudo_targets,
        attack=name,
        test=test,
        alpha=alpha,
        seed=seed,
        power_sizes=tuple(power_sizes),
    )
