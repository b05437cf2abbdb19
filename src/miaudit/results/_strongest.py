"""The strongest attack of an audit: the one place that chooses it (results.json's
``summary``, the report's verdict and its Defense section all use :func:`pick_strongest`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

from miaudit.metrics import AttackMetrics
from miaudit.results._json import metric_value


class AttackResult(Protocol):
    """What the choice reads of an attack's result (:class:`miaudit.results.AttackResult`
    has it; a protocol here keeps this module below the result types)."""

    name: str
    attack: str | None
    error: str | None
    metrics: AttackMetrics | None
    threat_model: Mapping[str, Any]


#: the attacker's access levels, weakest first
ACCESS_LEVELS = ("labels", "outputs", "white-box")
_ACCESS_OF_KNOWLEDGE = {
    "black-box labels": "labels",
    "black-box probabilities": "outputs",
    "white-box": "white-box",
}
STRONGEST_CRITERION = (
    "highest TPR at 1% FPR, ties broken by the higher AUC, then by the order the attacks ran; "
    "the highest-AUC attack breaks ties by TPR at 1% FPR"
)

T = TypeVar("T")
#: an attack with its TPR at 1% FPR and its AUC (None where missing)
Candidate = tuple[T, float | None, float | None]


def pick_strongest(
    candidates: Sequence[Candidate[T]], by: Literal["tpr", "auc"]
) -> Candidate[T] | None:
    """The strongest candidate: by ``"tpr"``, the highest TPR at 1% FPR, ties broken by the
    higher AUC; by ``"auc"``, the highest AUC, ties broken by the higher TPR; remaining ties
    go to the earlier candidate (the order the attacks ran). Missing values lose. None when
    there is no candidate."""
    if not candidates:
        return None
    if by == "tpr":
        return max(candidates, key=lambda c: (_or_lowest(c[1]), _or_lowest(c[2])))
    return max(candidates, key=lambda c: (_or_lowest(c[2]), _or_lowest(c[1])))


def attack_access(attack: AttackResult) -> str | None:
    """The access level an attack needs: "labels" (predicted labels only), "outputs"
    (probability vectors) or "white-box" (parameters), from its threat model's knowledge.

    An attack that reads the outputs but uses only the predicted label (``gap``) counts as
    "labels". A result without a recorded knowledge (built by hand) falls back to the
    registered attack's threat model; None when unknown.
    """
    tm = attack.threat_model if isinstance(attack.threat_model, Mapping) else {}
    knowledge = tm.get("knowledge")
    if knowledge is None:
        # only for hand-built results (the pipeline records the knowledge); attacks import
        # no results, so this edge makes no cycle
        from miaudit.attacks import ATTACKS

        name = attack.attack or attack.name
        if name in ATTACKS:
            knowledge = ATTACKS.get(name).threat_model.knowledge
    return _ACCESS_OF_KNOWLEDGE.get(knowledge) if isinstance(knowledge, str) else None


def headline(attack: AttackResult) -> Candidate[AttackResult]:
    """``(attack, TPR at 1% FPR, AUC)`` from its metrics (None where missing or NaN)."""
    m = attack.metrics
    if m is None:
        return attack, None, None
    return attack, metric_value(m.tpr_at_fpr.get("0.01")), metric_value(m.auc)


def strongest_attacks(attacks: Sequence[AttackResult]) -> dict[str, Any]:
    """The strongest of the completed attacks, overall and per access level.

    ``strongest_attack`` has the highest TPR at 1% FPR (ties: higher AUC, then run order);
    ``highest_auc_attack`` the highest AUC (ties: higher TPR at 1% FPR, then run order);
    ``strongest_attack_by_access`` maps each access level that some attack used ("labels",
    "outputs", "white-box") to its strongest attack by the first rule. Each entry gives the
    attack's name, registered attack, access, AUC and TPR at 1% FPR with their 95% CIs (None
    where missing). Failed attacks and attacks without either metric are left out.
    """
    scored = [
        c
        for c in map(headline, attacks)
        if c[0].error is None and (c[1] is not None or c[2] is not None)
    ]
    by_access = {}
    for level in ACCESS_LEVELS:
        best = pick_strongest([c for c in scored if attack_access(c[0]) == level], "tpr")
        if best is not None:
            by_access[level] = _summary_entry(*best)
    return {
        "criterion": STRONGEST_CRITERION,
        "strongest_attack": _entry_or_none(pick_strongest(scored, "tpr")),
        "highest_auc_attack": _entry_or_none(pick_strongest(scored, "auc")),
        "strongest_attack_by_access": by_access,
    }


def _entry_or_none(best: Candidate[AttackResult] | None) -> dict[str, Any] | None:
    return None if best is None else _summary_entry(*best)


def _summary_entry(a: AttackResult, tpr: float | None, auc: float | None) -> dict[str, Any]:
    m = a.metrics
    return {
        "name": a.name,
        "attack": a.attack or a.name,
        "access": attack_access(a),
        "tpr_at_fpr": {"0.01": tpr},
        "tpr_at_fpr_ci": {"0.01": _interval(m.tpr_at_fpr_ci.get("0.01") if m else None)},
        "auc": auc,
        "auc_ci": _interval(m.auc_ci if m else None),
    }


def _or_lowest(value: float | None) -> float:
    return -math.inf if value is None else value


def _interval(value: Any) -> list[float | None] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return [metric_value(value[0]), metric_value(value[1])]
    return None
