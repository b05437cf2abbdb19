"""An audit's results against a gate's thresholds: which hold, which are exceeded, which
could not be checked.

Each threshold yields one :class:`Outcome`: its value on every attack it applies to (or the
target's DP epsilon), the worst of them, and a status:

* ``"pass"``: every value it applies to is at most the limit;
* ``"fail"``: at least one value is above the limit (the compared value is the point
  estimate, or with ``strict`` the upper end of its 95% bootstrap interval);
* ``"error"``: none is above the limit, but an attack it applies to failed at run time (or
  gave no value), so the threshold could not be checked for it. It never passes silently.

A threshold that applies to no attack at all (its attack is not in the audit, or every
attack has its own override) or an epsilon threshold on an audit without DP accounting is
bad input: :class:`~miaudit.errors.ConfigError`.

TPR at an FPR level the results do not carry (they have 0.001, 0.01 and 0.1) is computed
from the per-record scores exactly as the audit computes the others
(:func:`miaudit.metrics.tpr_at_fpr` on the exact ROC curve, and
:func:`miaudit.metrics.bootstrap_ci` with the audit's seed and resamples, which draws the
same stratified resamples as :func:`miaudit.metrics.evaluate_scores`). The recomputation is
checked against a level the results do carry first; a mismatch (results written by other
code, or an API audit with non-default ``bootstrap``) refuses rather than guess.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.gate._thresholds import Threshold, Thresholds, fpr_key
from miaudit.metrics import bootstrap_ci, tpr_at_fpr
from miaudit.results import AttackResult, AuditResult

Status = Literal["pass", "fail", "error"]
#: resamples of audit() when results.json records no config (its default)
DEFAULT_BOOTSTRAP = 200
#: the stored level a recomputation is checked against
CHECK_LEVEL = "0.01"


@dataclass(frozen=True)
class Value:
    """One measured value a threshold is compared with: an attack's (``subject`` its
    label) or the target's DP epsilon (``subject`` "target")."""

    subject: str
    value: float | None
    ci: tuple[float, float] | None
    #: the number compared with the limit: the value, or with strict the CI's upper end
    compared: float | None
    exceeded: bool
    #: why there is no value (the attack failed), else None
    error: str | None = None
    #: how the value was obtained when not read from results.json, e.g. "from scores.csv"
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A threshold's verdict on the audit."""

    threshold: Threshold
    status: Status
    values: tuple[Value, ...]
    #: the value with the highest compared number (None when none has one)
    worst: Value | None
    strict: bool
    source: str = "config"

    @property
    def message(self) -> str:
        """One line: the verdict with the worst value, its CI and the limit."""
        t = self.threshold
        if self.status == "error":
            bad = [v for v in self.values if v.error is not None]
            names = ", ".join(repr(v.subject) for v in bad)
            return (
                f"{t.quantity} could not be checked against {t.option} = {t.limit:g} for "
                f"{'attack' if len(bad) == 1 else 'attacks'} {names}: {bad[0].error}"
            )
        w = self.worst
        assert w is not None and w.value is not None
        subject = "the target" if t.metric == "epsilon" else f"attack {w.subject!r}"
        ci = "" if w.ci is None else f" (95% CI [{w.ci[0]:.4g}, {w.ci[1]:.4g}])"
        rule = " (strict: the CI's upper end)" if self.strict and w.ci is not None else ""
        if self.status == "fail":
            n = sum(v.exceeded for v in self.values)
            others = f"; {n - 1} more exceed it" if n > 1 else ""
            return (
                f"{t.quantity} of {subject} is {w.value:.4g}{ci}, above the threshold "
                f"{t.option} = {t.limit:g}{rule}{others}"
            )
        return (
            f"{t.quantity} of {subject} (the highest) is {w.value:.4g}{ci}, within the "
            f"threshold {t.option} = {t.limit:g}{rule}"
        )


@dataclass(frozen=True)
class GateReport:
    """Every threshold's outcome; ``passed`` when all pass."""

    outcomes: tuple[Outcome, ...]
    strict: bool

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "fail"]

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "error"]

    @property
    def passed(self) -> bool:
        return all(o.status == "pass" for o in self.outcomes)

    @property
    def verdict(self) -> str:
        """ "passed", "failed" (a threshold exceeded) or "error" (none exceeded, but some
        could not be checked)."""
        return "failed" if self.failed else "error" if self.errors else "passed"


def evaluate_gate(result: AuditResult, thresholds: Thresholds) -> GateReport:
    """Compare ``result`` with every threshold (see the module docstring).

    ``result`` needs its per-record scores (:func:`miaudit.results.load_result`, or the
    audit's own result) only when a TPR threshold asks for an FPR level results.json does
    not carry.

    Raises:
        ConfigError: a threshold that applies to nothing, epsilon without DP accounting,
            strict without confidence intervals.
        DataError: a TPR level to compute without the scores, or a recomputation that does
            not reproduce the stored metrics.
    """
    if not thresholds.items:
        raise ConfigError(
            "no thresholds to check: give --max-auc, --max-tpr or --max-epsilon, "
            "or a check: section in the config"
        )
    outcomes = []
    for threshold, source in zip(thresholds.items, thresholds.sources, strict=True):
        if threshold.metric == "epsilon":
            values = (_epsilon_value(result, threshold),)
        else:
            values = tuple(
                _attack_value(result, a, threshold, thresholds.strict)
                for a in _applies_to(result, threshold, thresholds)
            )
        outcomes.append(_outcome(threshold, values, thresholds.strict, source))
    return GateReport(outcomes=tuple(outcomes), strict=thresholds.strict)


def _outcome(t: Threshold, values: tuple[Value, ...], strict: bool, source: str) -> Outcome:
    measured = [v for v in values if v.compared is not None]
    worst = max(measured, key=lambda v: v.compared) if measured else None  # type: ignore[arg-type,return-value]
    if any(v.exceeded for v in values):
        status: Status = "fail"
    elif any(v.error is not None for v in values):
        status = "error"
    else:
        status = "pass"
    return Outcome(t, status, values, worst, strict, source)


def _applies_to(result: AuditResult, t: Threshold, all_t: Thresholds) -> list[AttackResult]:
    labels = [a.name for a in result.attacks]
    if t.attack is not None:
        found = [a for a in result.attacks if a.name == t.attack]
        if not found:
            raise ConfigError(
                f"check.attacks.{t.attack}: the audit has no attack labelled {t.attack!r}, so "
                f"its {t.option} applies to nothing (the audit's attacks: "
                f"{', '.join(labels) or 'none'})"
            )
        return found
    skip = all_t.overridden(t)
    found = [a for a in result.attacks if a.name not in skip]
    if not found:
        why = "every attack has its own threshold" if result.attacks else "the audit ran no attack"
        raise ConfigError(f"{t.option} applies to no attack: {why}")
    return found


def _attack_value(result: AuditResult, a: AttackResult, t: Threshold, strict: bool) -> Value:
    if a.error is not None or a.metrics is None:
        return Value(a.name, None, None, None, False, error=a.error or "no metrics")
    note = None
    if t.metric == "auc":
        value, ci = a.metrics.auc, a.metrics.auc_ci
    else:
        key = _stored_level(a.metrics.tpr_at_fpr, t.fpr)  # type: ignore[arg-type]
        if key is not None:
            value, ci = a.metrics.tpr_at_fpr[key], a.metrics.tpr_at_fpr_ci.get(key)
        else:
            value, ci = _computed_tpr(result, a, t.fpr)  # type: ignore[arg-type]
            note = "computed from the per-record scores"
    if value is None or not math.isfinite(value):
        return Value(a.name, None, None, None, False, error=f"{t.quantity} is not a number")
    if strict and ci is None:
        raise ConfigError(
            f"strict checks compare the upper end of the 95% confidence interval, but "
            f"attack {a.name!r} has no interval for {t.quantity} (the audit ran with "
            "evaluation.bootstrap: 0); rerun with intervals or drop strict"
        )
    ci = None if ci is None else (float(ci[0]), float(ci[1]))
    compared = ci[1] if strict and ci is not None else float(value)
    return Value(a.name, float(value), ci, compared, compared > t.limit, note=note)


def _epsilon_value(result: AuditResult, t: Threshold) -> Value:
    defense = result.target.defense or {}
    epsilon = defense.get("epsilon")
    if not isinstance(epsilon, int | float) or isinstance(epsilon, bool):
        has = "no defense" if not defense else f"defense {defense.get('name')!r} without one"
        raise ConfigError(
            f"{t.option} needs the DP accountant's epsilon of a differentially private "
            f"defense (dp_sgd); this audit's target has {has}"
        )
    delta = defense.get("delta")
    note = None if delta is None else f"at delta = {float(delta):g}"
    eps = float(epsilon)
    return Value("target", eps, None, eps, eps > t.limit, note=note)


def _stored_level(levels: Mapping[str, float], fpr: float) -> str | None:
    for key in levels:
        try:
            if float(key) == fpr:
                return key
        except ValueError:
            continue
    return None


def _computed_tpr(
    result: AuditResult, a: AttackResult, fpr: float
) -> tuple[float, tuple[float, float] | None]:
    """TPR at ``fpr`` and its interval from the attack's scores, the way the audit computed
    the stored levels; checked against the stored :data:`CHECK_LEVEL` first."""
    stored = ", ".join(a.metrics.tpr_at_fpr) if a.metrics else ""
    if a.scores is None or len(result.membership) != len(a.scores):
        raise DataError(
            f"TPR at FPR {fpr_key(fpr)} is not in the results (they have FPR {stored}) and "
            f"cannot be computed without the per-record scores (scores.csv beside "
            "results.json); use one of the stored levels"
        )
    y, s = result.membership, a.scores
    n_resamples, seed = _bootstrap_of(result, a), int(result.seed)
    check = _stored_level(a.metrics.tpr_at_fpr, float(CHECK_LEVEL)) if a.metrics else None
    if check is not None:
        again = _tpr_and_ci(y, s, float(check), n_resamples, seed)
        want = (a.metrics.tpr_at_fpr[check], a.metrics.tpr_at_fpr_ci.get(check))  # type: ignore[union-attr]
        want_ci = None if want[1] is None else tuple(float(v) for v in want[1])
        if again[0] != want[0] or again[1] != want_ci:
            raise DataError(
                f"cannot compute TPR at FPR {fpr_key(fpr)} for attack {a.name!r}: recomputing "
                f"the stored TPR at FPR {check} from the scores gives {again[0]!r} "
                f"{again[1]!r}, not {want[0]!r} {want_ci!r} (results from another version, or "
                f"an audit with a bootstrap other than {n_resamples}); use one of the "
                f"stored levels ({stored})"
            )
    return _tpr_and_ci(y, s, fpr, n_resamples, seed)


def _tpr_and_ci(
    y: np.ndarray, s: np.ndarray, fpr: float, n_resamples: int, seed: int
) -> tuple[float, tuple[float, float] | None]:
    value = tpr_at_fpr(y, s, fpr)
    if n_resamples == 0:
        return value, None
    statistic = functools.partial(tpr_at_fpr, fpr_level=fpr)
    return value, bootstrap_ci(y, s, statistic, n_resamples=n_resamples, seed=seed)


def _bootstrap_of(result: AuditResult, a: AttackResult) -> int:
    """The bootstrap resamples the audit used: its config's ``evaluation.bootstrap``, else
    0 when the results have no intervals, else :func:`miaudit.audit`'s default."""
    configured = configured_bootstrap(result)
    if configured is not None:
        return configured
    if a.metrics is not None and a.metrics.auc_ci is None:
        return 0
    return DEFAULT_BOOTSTRAP


def configured_bootstrap(result: AuditResult) -> int | None:
    """The config's ``evaluation.bootstrap`` recorded in the results, or None (an API audit
    records no config)."""
    config: Any = result.config or {}
    evaluation = config.get("evaluation") if isinstance(config, Mapping) else None
    if isinstance(evaluation, Mapping) and isinstance(evaluation.get("bootstrap"), int):
        return int(evaluation["bootstrap"])
    return None
