"""Reference models as pseudo-targets: each scored by the attack fitted on the others.

An audit's random-plan reference models are trained like the target on known random halves
of the audited records. Scoring reference model j as if it were the target, with a copy of
the attack fitted on the other models (leave one out, so j's own membership never enters
its scores), gives attack scores with known membership on models like the target: what
DUCI (Tong et al. 2025) needs for its error rates and what the owner report's power curve
(:func:`miaudit.owner.power_curve`) simulates owners on.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from miaudit.attacks import Attack, AttackerKnowledge
from miaudit.errors import DataError
from miaudit.outputs import ReferenceOutputs
from miaudit.results import PseudoTargetScores

#: fewer reference models leave too few on each side of every record for the attack's fit
MIN_MODELS = 3


def _leave_out(reference: ReferenceOutputs, j: int) -> ReferenceOutputs:
    keep = [i for i in range(reference.num_models) if i != j]
    population = tuple(reference.population[i] for i in keep) if reference.population else ()
    return ReferenceOutputs(
        audited=tuple(reference.audited[i] for i in keep),
        audited_in=reference.audited_in[:, keep],
        population=population,
        population_in=reference.population_in[:, keep],
        population_out=reference.population_out[:, keep],
        train_loss=reference.train_loss[keep],
        foreign=reference.foreign,
    )


def pseudo_target_scores(attack: Attack, knowledge: AttackerKnowledge) -> PseudoTargetScores:
    """The attack's scores of the audited records on each of its reference models, each
    model scored by a fresh copy of the attack fitted on the others; (models, records).

    Raises:
        DataError: the attack queries the target itself (label-only, white-box), has no
            random-plan reference models on the audited records, fewer than
            :data:`MIN_MODELS` of them, or reads population outputs that its reference
            models lack.
    """
    reference = knowledge.reference
    if attack.access != "outputs":
        raise DataError(
            f"{attack.name}: pseudo-targets need an attack that scores a model's outputs "
            f"(this one has access {attack.access!r})"
        )
    if reference is None or not reference.audited or reference.foreign is not None:
        raise DataError(
            f"{attack.name}: pseudo-targets need reference models trained on random halves "
            "of the audited records (LiRA, RMIA, ...)"
        )
    k = reference.num_models
    if k < MIN_MODELS:
        raise DataError(
            f"{attack.name}: pseudo-targets need at least {MIN_MODELS} reference models, got {k}"
        )
    if knowledge.population is not None and not reference.population:
        raise DataError(
            f"{attack.name}: the attack reads the target's outputs on population records but "
            "its reference models were not queried on them"
        )
    rows = []
    for j in range(k):
        fitted = copy.deepcopy(attack)
        mine = replace(
            knowledge,
            reference=_leave_out(reference, j),
            population=reference.population[j] if knowledge.population is not None else None,
        )
        fitted.fit(mine)
        scores = np.asarray(fitted.score_samples(reference.audited[j]), dtype=np.float64)
        if not np.all(np.isfinite(scores)):
            raise DataError(f"{attack.name}: non-finite scores on reference model {j}")
        rows.append(scores)
    return PseudoTargetScores(np.stack(rows), reference.audited_in.T.copy())
