"""How much of the owner's data was used? Tong et al. 2025 (ICLR), "How Much of My Dataset
Did You Use? Quantitative Data Usage Inference in Machine Learning" (DUCI).

A membership guess per owner record, m_i = 1[score_i > tau], is debiased with the attack's
error rates measured on *pseudo-targets*: reference models of the target's recipe whose use
of the owner's records is known, each scored by the same attack fitted on the other
reference models (leave one out). The estimate of the fraction used is the paper's
debiased aggregate (its Eq. for p_i, averaged over the owner's records)::

    p_hat = (mean_i m_i - FPR) / (TPR - FPR)

with one TPR and FPR for all records and tau maximising TPR - FPR on the pseudo-targets,
as the authors' code does (``DUCI.debias_pred`` in privacytrustlab/ml_privacy_meter: Youden's
J on the pooled reference ROC; per-record rates from a handful of reference models would
put near-zero denominators into the sum). Assumptions, stated in the report: the attack's
TPR and FPR on the target equal those on reference models of the same recipe (also when the
target used a different fraction than the references' one half), and the owner's records
are exchangeable with each other.

One departure, where the owner audit allows it: an owner audit has records known *not* to
be in the target's training set (its reference non-members), so the FPR is measured on the
target itself (``target_nonmember_scores``). Measured on pseudo-targets, it inherits any
shift of the attack's scores between the references and the target (a target trained on
more records, by another seed scheme), and such a shift alone produced a fraction of 28%
(interval 5% to 49%) for an owner none of whose records was used (digits, random forest,
LiRA, 8 references); with the target's own FPR the estimate is unbiased for 0 under H0.

The interval (the paper gives the estimator's variance, not an interval for a real audit):
a two-level bootstrap that resamples the owner's records, jointly in the target and every
pseudo-target (a record's hardness is shared), and the pseudo-targets themselves (training
randomness makes the target's error rates differ from any one reference model's), with tau,
TPR, FPR and p_hat recomputed on every resample; the percentile interval, clipped to [0, 1].
Its coverage is measured on targets with known fractions (BENCHMARKS.md, "How much was
used").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from miaudit.errors import DataError
from miaudit.validation import check_number

#: bootstrap resamples of the interval
RESAMPLES = 1000
#: the estimate is refused when the attack separates members this little on the references
MIN_SEPARATION = 0.02
#: ... or when its best TPR - FPR (the one-sided Kolmogorov-Smirnov statistic) is no larger
#: than chance would give at this level: Youden's J maximised over thresholds on pure noise
#: is about 0.04 for 1,600 pseudo-target scores
SEPARATION_LEVEL = 0.01
TONG = (
    "Tong et al. 2025, How Much of My Dataset Did You Use? Quantitative Data Usage "
    "Inference in Machine Learning (ICLR)"
)

ASSUMPTIONS_PSEUDO = (
    "The attack makes a yes/no membership guess for each of your records. Its error rates "
    "(how often it says yes for a used record, and for an unused one) are measured on "
    "reference models trained like the target, for which it is known which of your records "
    "they used; the share of yes-guesses on the target is then corrected for those errors. "
    "This assumes the attack errs on the target as it does on the reference models. The "
    "interval comes from resampling your records and the reference models."
)

ASSUMPTIONS = (
    "The attack makes a yes/no membership guess for each of your records. How often it "
    "says yes for an unused record is measured on the target itself, with the reference "
    "records known not to be in its training data; how often it says yes for a used record "
    "is measured on reference models trained like the target, for which it is known which "
    "of your records they used. The share of yes-guesses for your records is then "
    "corrected for both. This assumes the attack finds used records in the target as "
    "often as in the reference models: if the target leaks less than they do, the "
    "fraction is underestimated (and overestimated if it leaks more). The interval comes "
    "from resampling your records, the reference records and the reference models."
)


@dataclass(frozen=True)
class UsageEstimate:
    """The estimated fraction of the owner's records used to train the target.

    Attributes:
        fraction: p_hat clipped to [0, 1].
        raw: the unclipped estimate (unbiased under the assumptions; may leave [0, 1]).
        ci: the bootstrap interval at ``confidence``, within [0, 1].
        confidence: the interval's level.
        guessed: the share of the owner's records the attack calls members on the target.
        tpr, fpr: the attack's rates at ``threshold``: TPR on the pseudo-targets, FPR on
            the target's known non-members where given, else on the pseudo-targets.
        fpr_source: "target" or "pseudo-targets".
        threshold: tau, the score above which a record is called a member.
        n_owner: the owner's records.
        n_pseudo_targets: reference models used as pseudo-targets.
        resamples: bootstrap resamples (those with TPR - FPR <= 0 count as undefined).
        assumptions: the estimate's assumptions in words.
    """

    fraction: float
    raw: float
    ci: tuple[float, float]
    confidence: float
    guessed: float
    tpr: float
    fpr: float
    threshold: float
    n_owner: int
    n_pseudo_targets: int
    resamples: int
    fpr_source: str = "pseudo-targets"
    assumptions: str = ASSUMPTIONS
    paper: str = TONG

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out

    def sentence(self) -> str:
        lo, hi = self.ci
        return (
            f"About {100 * self.fraction:.0f}% of your records were used "
            f"({100 * self.confidence:.0f}% interval {100 * lo:.0f}% to {100 * hi:.0f}%)."
        )


def best_threshold(scores: np.ndarray, membership: np.ndarray) -> tuple[float, float, float]:
    """tau maximising TPR - FPR of the guess ``score > tau`` (Youden's J), with its TPR and
    FPR; scores (n,), membership (n,) bool with both classes present. Ties in the scores
    are never split (tau sits between distinct values)."""
    order = np.argsort(-scores, kind="stable")
    s, m = scores[order], membership[order]
    n_in, n_out = int(m.sum()), int((~m).sum())
    tp, fp = np.cumsum(m), np.cumsum(~m)
    last = np.r_[s[1:] != s[:-1], True]  # end of each run of equal scores
    tpr, fpr = tp[last] / n_in, fp[last] / n_out
    i = int(np.argmax(tpr - fpr))
    cut = s[last]  # guesses "member" for the scores >= cut[i]
    below = cut[i + 1] if i + 1 < cut.size else cut[i] - 1.0
    return float((cut[i] + below) / 2), float(tpr[i]), float(fpr[i])


def _estimate(
    target: np.ndarray,
    pseudo: np.ndarray,
    member: np.ndarray,
    target_out: np.ndarray | None = None,
) -> tuple[float, float, float, float, float]:
    """(p_hat, guessed, tpr, fpr, tau) for one (re)sample; p_hat NaN when TPR <= FPR. With
    ``target_out`` (the target's scores of known non-members) the FPR is theirs."""
    flat_m = member.ravel()
    if flat_m.all() or not flat_m.any():
        return float("nan"), float("nan"), float("nan"), float("nan"), float("nan")
    tau, tpr, fpr = best_threshold(pseudo.ravel(), flat_m)
    if target_out is not None:
        fpr = float(np.mean(target_out > tau))
    guessed = float(np.mean(target > tau))
    if tpr - fpr <= 0:
        return float("nan"), guessed, tpr, fpr, tau
    return (guessed - fpr) / (tpr - fpr), guessed, tpr, fpr, tau


def estimate_usage(
    target_scores: Any,
    pseudo_scores: Any,
    pseudo_membership: Any,
    *,
    target_nonmember_scores: Any = None,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> UsageEstimate:
    """DUCI's estimate of the fraction of the owner's records the target used.

    Args:
        target_scores: (n,) the attack's scores of the owner's records on the target
            (higher = member).
        pseudo_scores: (k, n) the same attack's scores of the same records on k reference
            models, each scored as the target, by the attack fitted on the other models.
        pseudo_membership: (k, n) bool, whether reference model j trained on record i.
        target_nonmember_scores: (r,) the target's scores of records known not to be in
            its training set (an owner audit's reference non-members), or None. Given, the
            FPR is measured on the target itself (the share of them called members) instead
            of on the pseudo-targets, so an attack whose scores shift between the
            references and the target (another training-set size, another random seed
            scheme) cannot fake a fraction used: with none used, p_hat is unbiased for 0
            whatever the shift. The TPR still comes from the pseudo-targets (no known
            member of the target exists), so a shift biases p_hat for large fractions.
        confidence: the interval's level; resamples: bootstrap resamples (>= 100).

    Raises:
        DataError: mismatched shapes, non-finite scores, fewer than 2 pseudo-targets, or an
            attack that does not separate members on the references (TPR - FPR below
            :data:`MIN_SEPARATION`): the fraction is then not estimable.
    """
    confidence = float(check_number(confidence, "confidence", low=0, high=1, closed="neither"))
    resamples = int(check_number(resamples, "resamples", low=100, integer=True))
    t = np.asarray(target_scores, dtype=np.float64)
    p = np.asarray(pseudo_scores, dtype=np.float64)
    mem = np.asarray(pseudo_membership)
    if t.ndim != 1 or t.size < 2:
        raise DataError(
            f"DUCI needs the target's scores of at least 2 owner records, got {t.shape}"
        )
    if p.ndim != 2 or p.shape[1] != t.size or mem.shape != p.shape:
        raise DataError(
            f"DUCI: pseudo-target scores of shape {p.shape} and membership of shape "
            f"{mem.shape}; expected (models, {t.size}) for both"
        )
    if mem.dtype != bool:
        raise DataError("DUCI: the pseudo-targets' membership must be a boolean matrix")
    if p.shape[0] < 2:
        raise DataError(
            f"DUCI needs at least 2 reference models as pseudo-targets, got {p.shape[0]}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise DataError("DUCI: the scores contain NaN or inf")
    if mem.all() or not mem.any():
        raise DataError(
            "DUCI: the reference models used all or none of the owner's records; their "
            "error rates need both (reference models trained on random halves)"
        )
    out = None
    if target_nonmember_scores is not None:
        out = np.asarray(target_nonmember_scores, dtype=np.float64)
        if out.ndim != 1 or out.size < 2 or not np.all(np.isfinite(out)):
            raise DataError(
                "DUCI: the target's non-member scores must be at least 2 finite numbers, "
                f"got shape {out.shape}"
            )
    raw, guessed, tpr, fpr, tau = _estimate(t, p, mem, out)
    chance = stats.ks_2samp(p[mem], p[~mem], alternative="less", method="asymp").pvalue
    if not (tpr - fpr >= MIN_SEPARATION and chance <= SEPARATION_LEVEL):
        raise DataError(
            f"DUCI: the attack does not separate used from unused records on the reference "
            f"models (best TPR - FPR = {tpr - fpr:.3f}, chance level p = {chance:.2g}); the "
            "fraction used is not estimable with it"
        )
    rng = np.random.default_rng([int(seed), 0xD0C1])
    k, n = p.shape
    draws = np.empty(resamples)
    for b in range(resamples):
        rows = rng.integers(0, n, n)
        models = rng.integers(0, k, k)
        outs = None if out is None else out[rng.integers(0, out.size, out.size)]
        draws[b] = _estimate(t[rows], p[np.ix_(models, rows)], mem[np.ix_(models, rows)], outs)[0]
    tail = (1 - confidence) / 2
    # an undefined resample (TPR <= FPR) could be any fraction: it widens the interval
    # to both ends rather than being dropped (dropping would narrow it where it is weakest)
    undefined = ~np.isfinite(draws)
    filled = np.where(undefined, np.where(np.arange(resamples) % 2 == 0, -np.inf, np.inf), draws)
    ordered = np.sort(filled)  # order statistics: no interpolation across an infinity
    lo = ordered[int(np.floor(tail * (resamples - 1)))]
    hi = ordered[int(np.ceil((1 - tail) * (resamples - 1)))]
    ci = (float(np.clip(lo, 0, 1)), float(np.clip(hi, 0, 1)))
    return UsageEstimate(
        fraction=float(np.clip(raw, 0, 1)),
        raw=float(raw),
        ci=ci,
        confidence=confidence,
        guessed=guessed,
        tpr=tpr,
        fpr=fpr,
        threshold=tau,
        n_owner=n,
        n_pseudo_targets=k,
        resamples=resamples,
        fpr_source="pseudo-targets" if out is None else "target",
        assumptions=ASSUMPTIONS_PSEUDO if out is None else ASSUMPTIONS,
    )


#: the target is flagged as unlike its reference models beyond both of these
MISMATCH_P = 0.001
MISMATCH_D = 0.1


def target_resemblance(target_out: Any, pseudo_out: Any) -> dict[str, Any]:
    """Does the attack score known non-members on the target as it does on the reference
    models? ``target_out``: the target's scores of the reference non-members; ``pseudo_out``:
    the pseudo-targets' scores of the same records on the models that did not train on
    them. A two-sample Kolmogorov-Smirnov test; flagged when p < :data:`MISMATCH_P` and
    D > :data:`MISMATCH_D` (the pooled pseudo-target scores repeat records, so the p-value
    alone is too small: a diagnostic, not a test). Flagged, the target was not trained like
    the reference models (another training-set size, recipe or epochs), and what is
    measured on them (the fraction's TPR, the power curve) may not hold for it; the owner
    test's p-value, computed on the target alone, stays valid."""
    a = np.asarray(target_out, dtype=np.float64)
    b = np.asarray(pseudo_out, dtype=np.float64)
    res = stats.ks_2samp(a, b, method="asymp")
    d, p = float(res.statistic), float(res.pvalue)
    mismatch = bool(p < MISMATCH_P and d > MISMATCH_D)
    sentence = (
        f"The attack scores the reference records differently on the target than on the "
        f"reference models (Kolmogorov-Smirnov D = {d:.2f}): the target was probably not "
        "trained like them (another training-set size, recipe or number of epochs). The "
        "p-value stays valid (it compares records on the target itself), but the fraction "
        "used and the power curve are measured on models unlike the target and may not "
        "hold for it."
        if mismatch
        else f"The target scores the reference records like the reference models do "
        f"(Kolmogorov-Smirnov D = {d:.2f}, p = {p:.2g})."
    )
    return {"ks_statistic": d, "p_value": p, "mismatch": mismatch, "sentence": sentence}
