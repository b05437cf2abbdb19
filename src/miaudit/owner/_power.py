"""The owner test's power and validity, estimated on reference models (issue 13).

A "no evidence" answer means little if the test could not have found the records even had
they been used. The reference models of an audit (trained like the target, each on a known
random half of the audited records) are pseudo-targets: scored by the same attack fitted on
the other reference models, their members and non-members are known. Simulated owners of k
records drawn from a pseudo-target's members (power) or non-members (validity), tested
against reference records drawn from its other non-members, show what the test detects
with k records on a model like the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from miaudit.errors import DataError
from miaudit.owner._test import min_p_value, owner_test

POWER_SIZES = (1, 2, 5, 10, 20, 50)


def _interval(rejected: int, trials: int) -> tuple[float, float]:
    lo, hi = stats.binomtest(rejected, trials).proportion_ci(0.95, method="exact")
    return float(lo), float(hi)


def power_curve(
    pseudo_scores: Any,
    pseudo_membership: Any,
    *,
    n_reference: int,
    sizes: Sequence[int] = POWER_SIZES,
    owners: int = 200,
    test: str = "mann_whitney",
    alpha: float = 0.05,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per owner size k: the rejection rate of simulated used owners (power) and unused
    owners (validity), each with its 95% Clopper-Pearson interval, over ``owners``
    simulated owners spread evenly over the pseudo-targets.

    Args:
        pseudo_scores: (models, records) attack scores of the audited records on each
            reference model (scored as the target, by the attack fitted on the others).
        pseudo_membership: (models, records) bool, whether the model trained on the record.
        n_reference: the reference records per test (the audit's own count); capped by each
            pseudo-target's non-members, leaving room for the null owner's k.

    Sizes whose test cannot reach ``alpha`` with the reference records available are
    returned with ``power`` None and the reason.
    """
    scores = np.asarray(pseudo_scores, dtype=np.float64)
    member = np.asarray(pseudo_membership, dtype=bool)
    if scores.ndim != 2 or member.shape != scores.shape or scores.shape[0] < 1:
        raise DataError(
            f"power curve: scores of shape {scores.shape} and membership of shape "
            f"{member.shape}; expected the same (models, records) shape"
        )
    rng = np.random.default_rng([int(seed), 0x90E3])
    k_models = scores.shape[0]
    per_model = np.full(k_models, owners // k_models)
    per_model[: owners % k_models] += 1
    rows = []
    for k in sizes:
        counts = {"power": [0, 0], "null": [0, 0]}
        reason = None
        for j in range(k_models):
            ins, outs = scores[j, member[j]], scores[j, ~member[j]]
            r = min(int(n_reference), outs.size - k)
            unreachable = test == "mann_whitney" and r >= 1 and min_p_value(k, r) > alpha
            if ins.size < k or r < 2 or unreachable or (test == "welch" and k < 2):
                reason = (
                    f"{ins.size} members and {outs.size} non-members per reference model "
                    f"cannot test {k} records at alpha = {alpha:g}"
                )
                break
            for _ in range(int(per_model[j])):
                draw_seed = int(rng.integers(2**31))
                own = ins[rng.choice(ins.size, k, replace=False)]
                idx = rng.choice(outs.size, k + r, replace=False)
                ref = outs[idx[k:]]
                res = owner_test(own, ref, test=test, alpha=alpha, seed=draw_seed)
                counts["power"][0] += res.reject
                counts["power"][1] += 1
                res = owner_test(outs[idx[:k]], ref, test=test, alpha=alpha, seed=draw_seed)
                counts["null"][0] += res.reject
                counts["null"][1] += 1
        if reason is not None:
            rows.append({"n_owner": int(k), "power": None, "null_rate": None, "reason": reason})
            continue
        (pr, pn), (nr, nn) = counts["power"], counts["null"]
        rows.append(
            {
                "n_owner": int(k),
                "power": pr / pn,
                "power_ci": _interval(pr, pn),
                "null_rate": nr / nn,
                "null_ci": _interval(nr, nn),
                "owners": int(pn),
                "n_reference": int(min(n_reference, int((~member).sum(axis=1).min()) - k)),
            }
        )
    return rows


def power_at(rows: list[dict[str, Any]], n_owner: int) -> dict[str, Any] | None:
    """The measured row for the largest size not above ``n_owner`` (a lower bound on the
    power with ``n_owner`` records: more records only help), or None."""
    fits = [r for r in rows if r.get("power") is not None and r["n_owner"] <= n_owner]
    return max(fits, key=lambda r: r["n_owner"]) if fits else None
