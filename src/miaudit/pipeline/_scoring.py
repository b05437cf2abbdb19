"""One attack fitted, scored and evaluated; a failure is recorded, never lost (the other
attacks still run)."""

from __future__ import annotations

import time
import traceback
from dataclasses import replace

import numpy as np

from miaudit.attacks import (
    Attack,
    AttackerKnowledge,
)
from miaudit.errors import DataError, MiauditError
from miaudit.metrics import evaluate_scores
from miaudit.pipeline._holdings import Holdings
from miaudit.results import AttackResult
from miaudit.targets import LabelOnlyTarget, Target


def run_attack(
    label: str,
    attack: Attack,
    knowledge: AttackerKnowledge,
    held: Holdings,
    bootstrap: int,
) -> AttackResult:
    """Fit ``attack``, score the audited records and evaluate the scores; an error (an
    attack's bug included) is recorded in the result instead of losing the others."""
    start = time.perf_counter()
    membership, seed = held.membership, held.seed
    try:
        scores, queries_per_record = fit_and_score(attack, knowledge, held)
        if not np.all(np.isfinite(scores)):
            raise DataError(f"attack {attack.name!r} produced non-finite scores")
        metrics = evaluate_scores(
            membership, scores, threshold=attack.threshold_, n_resamples=bootstrap, seed=seed
        )
    except MiauditError as exc:
        return failed_result(label, attack, start, str(exc))
    except Exception as exc:  # an attack bug must not lose the other attacks' results
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return failed_result(label, attack, start, detail)
    return AttackResult(
        name=label,
        attack=attack.name,
        threat_model=attack.threat_model.to_dict(),
        params=attack.get_params(),
        scores=scores,
        metrics=metrics,
        seconds=time.perf_counter() - start,
        queries_per_record=queries_per_record,
    )


def fit_and_score(
    attack: Attack, knowledge: AttackerKnowledge, held: Holdings
) -> tuple[np.ndarray, float | None]:
    """The attack's scores of the audited records, and the label queries per record it
    made while scoring (label-only attacks; None for the others)."""
    if attack.access == "outputs":
        attack.fit(knowledge)
        return attack.score_samples(held.audited), None
    records = held.records
    assert records is not None  # built whenever an attack has access != "outputs"
    fit_view, score_view = target_views(attack, held.target, len(records[1]))
    attack.fit(replace(knowledge, target=fit_view))
    scores = attack.score_records(score_view, *records)
    if attack.access != "labels":
        return scores, None
    return scores, score_view.query_count / len(records[1])  # label-only attacks' cost


def target_views(attack: Attack, target: Target, n: int) -> tuple[Target, Target]:
    """The target as the attack may see it in fit and in scoring (fresh query counters).

    Label-only attacks get label-only views; the scoring view enforces the attack's
    ``max_queries_per_record`` budget. White-box attacks need a target that exposes its
    parameters (a torch model).
    """
    if attack.access == "labels":
        per_record = getattr(attack, "max_queries_per_record", None)
        budget = None if per_record is None else int(per_record) * n
        return LabelOnlyTarget(target), LabelOnlyTarget(target, max_queries=budget)
    if "parameters" not in target.capabilities:
        why = target.parameters_note or "a torch model"
        raise DataError(
            f"{attack.name} is a white-box attack: it needs a target that exposes its "
            f"parameters ({why}), got {target.description}"
        )
    return target, target


def failed_result(label: str, attack: Attack, start: float, message: str) -> AttackResult:
    return AttackResult(
        name=label,
        attack=attack.name,
        threat_model=attack.threat_model.to_dict(),
        params=attack.get_params(),
        scores=None,
        seconds=time.perf_counter() - start,
        error=message,
    )
