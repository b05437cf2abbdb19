"""Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks" (ICML): the
robust membership inference attack (RMIA).

RMIA compares the target's likelihood ratio on the record x,
ratio_x = Pr(x | target) / Pr(x), with the same ratio on population records z drawn from
the data distribution (known non-members), and scores x by the fraction of z it dominates
by a factor gamma (sec. 3 of the paper):

    Score(x) = Pr_z[ ratio_x / ratio_z > gamma ].

Pr(x) = E_theta[Pr(x | theta)] is estimated by averaging over reference models (online:
all of them, about half trained on x; offline: the models that did not train on x, with
the paper's linear approximation Pr(x) = (1 + a)/2 * mean_OUT + (1 - a)/2 for the offline
setting).

The authors' code (privacytrustlab/ml_privacy_meter, ``modules/mia/attacks/rmia.py``) was
read to check the formulas; where it differs, :class:`RMIA` documents the choice.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import scipy.special
from scipy.special import logsumexp

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    Param,
    Reads,
    ReferenceRequest,
    ThreatModel,
    population_rows,
    register_attack,
)
from miaudit.errors import DataError
from miaudit.metrics import auc
from miaudit.outputs import ModelOutputs
from miaudit.validation import Interval

ZARIFZADEH = "Zarifzadeh et al. 2024, Low-Cost High-Power Membership Inference Attacks (ICML)"

#: Default number of population records z. The paper's z are a random sample of the
#: population; the authors' code (ml_privacy_meter ``run_mia.py``) draws
#: ``audit.population_size`` records of it without replacement (all by default) and their
#: Purchase-100 config uses 10,000, as many as the audited records there. Scoring every
#: record outside the split instead cost an MNIST audit minutes per reference model (issue 18).
NUM_POPULATION = 10_000

#: Grid over which the offline coefficient ``a`` is tuned when ``a=None``.
A_GRID = np.round(np.linspace(0.0, 1.0, 11), 10)

_TINY = np.finfo(np.float64).tiny


def log_true_class_prob(outputs: ModelOutputs, temperature: float = 1.0) -> np.ndarray:
    """log Pr(x | model): log of the tempered true-class probability, (n,) float64.

    Pr = softmax(logits / T)[y], computed as a log-softmax from the logits when the
    outputs carry them. With probabilities only, temperature scaling is p^(1/T)
    renormalised over the classes, i.e. softmax(log p / T), with p floored at the smallest
    positive float so that zero probabilities stay finite. With augmented views
    (``outputs.views()``), Pr is the mean of the views' probabilities (a miaudit choice:
    the paper does not fix how augmented queries are combined).
    """
    per_view = []
    for view in outputs.views():
        idx = np.arange(view.n)
        if view.logits is not None:
            z = view.logits / temperature
        else:
            z = np.log(np.maximum(view.probs, _TINY)) / temperature
        per_view.append(z[idx, view.y] - logsumexp(z, axis=1))
    stacked = np.stack(per_view, axis=1)
    if stacked.shape[1] == 1:
        return stacked[:, 0]
    return logsumexp(stacked, axis=1) - math.log(stacked.shape[1])


def _plain(outputs: ModelOutputs) -> ModelOutputs:
    """The outputs without their augmented views (the plain query)."""
    return outputs if outputs.augmented is None else replace(outputs, augmented=None)


def log_pr_marginal(
    log_p_ref: np.ndarray, trained: np.ndarray, *, online: bool, a: float
) -> np.ndarray:
    """log Pr(x) from the reference models' log Pr(x | theta_j), (n, k) -> (n,).

    Online: log of the mean over all k models. Offline: the mean over the models with
    ``trained`` False (OUT), corrected to (1 + a)/2 * mean_OUT + (1 - a)/2. A record with
    no OUT model falls back to the uncorrected mean over all models (the online estimate,
    which the correction approximates), so the result is always finite.
    """
    k = log_p_ref.shape[1]
    log_all = logsumexp(log_p_ref, axis=1) - math.log(k)
    if online:
        return log_all
    out = ~np.asarray(trained, dtype=bool)
    n_out = out.sum(axis=1)
    masked = np.where(out, log_p_ref, -np.inf)
    has = n_out > 0
    result = log_all.copy()
    log_mean_out = logsumexp(masked[has], axis=1) - np.log(n_out[has])
    if a >= 1.0:
        result[has] = log_mean_out
    else:
        result[has] = np.logaddexp(
            math.log((1.0 + a) / 2.0) + log_mean_out, math.log((1.0 - a) / 2.0)
        )
    return result


def rmia_scores(
    log_ratio_x: np.ndarray, sorted_log_ratio_z: np.ndarray, gamma: float
) -> np.ndarray:
    """Fraction of population records z with ratio_x / ratio_z > gamma, for every x.

    Works on log ratios (exact same comparison, free of under/overflow): the count for x is
    the number of z with log ratio_z < log ratio_x - log gamma, found by binary search in
    the sorted z ratios -- O((n + m) log m) time, no n x m matrix.
    """
    counts = np.searchsorted(sorted_log_ratio_z, log_ratio_x - math.log(gamma), side="left")
    return counts / sorted_log_ratio_z.shape[0]


def break_ties(log_ratio_x: np.ndarray, m: int) -> np.ndarray:
    """A secondary key that orders records with equal RMIA scores by their own ratio_x.

    RMIA's score is a multiple of 1/m; with few reference models many records share the
    top score (all z dominated), which collapses TPR at low FPR. Adding
    0.5/m * ratio_x / (1 + ratio_x), strictly below 1/m, reorders only records whose
    fractions are equal (miaudit's choice, not in the paper; ``tie_break=False`` gives the
    paper's score).
    """
    return 0.5 / m * scipy.special.expit(log_ratio_x)


@register_attack
class RMIA(Attack):
    """RMIA (Zarifzadeh et al. 2024, sec. 3): Score(x) = Pr_z[ratio_x / ratio_z > gamma].

    Pr(x | theta) is the true-class probability softmax(logits / temperature)[y] (the
    authors use a softmax temperature, e.g. 2 for Purchase-100); see
    :func:`log_true_class_prob`. Pr(x) and
    Pr(z) average the reference models (online: all models; offline: OUT models only,
    with the ``a`` correction, see :func:`log_pr_marginal`). Population records z are the
    attacker's population (``AttackerKnowledge.population``, the target's outputs, and
    ``ReferenceOutputs.population``, the references' outputs on the same rows); offline,
    a reference model that trained on z (``population_in``) is left out of Pr(z). Of the
    population, ``num_population`` records (10,000 by default) are used, and Pr(z | model)
    is read from the plain query of z, for the target and the reference models alike,
    while the audited records x use the augmented views when the audit has them (the
    authors' ``run_mia.py`` queries no augmentations; miaudit before issue 18 averaged the
    reference models' views of z but not the target's). So the audit scores the population
    once per model, not once per view.

    ``tie_break`` (default True) orders records with equal scores by ratio_x (see
    :func:`break_ties`); it never changes the order of records with different scores.

    Differences from the authors' code (ml_privacy_meter ``modules/mia/attacks/rmia.py``):

    * The code compares ``ratios > 1.0`` (gamma = 1); here gamma is a parameter, default 2
      as in the paper's experiments.
    * The code's ``get_out_ref_signals`` zeroes IN entries, sorts, and averages the
      ``num_reference_models`` largest values, which equals the OUT mean only when every
      record is OUT for exactly that many models (their paired reference plan); here
      Pr_OUT(x) is the mean over exactly the OUT models of x.
    * ``a=None`` tunes a as the code's ``tune_offline_a`` does -- attack one reference
      model (the stand-in target) with the others, grid a = 0, 0.1, ..., 1, keep the a of
      the highest AUC, ties to the smallest a (strict ``>`` over an increasing grid) --
      but the stand-in is reference model 0 (the code uses the target's paired model,
      which the random plan does not have) and the others are references (the code
      reuses all reference models, with the single-model reconstruction of P_in). During
      tuning, population records that trained the stand-in are dropped from z.

    Args:
        online: average Pr(x) over all reference models (True) or OUT models only (False).
        gamma: likelihood-ratio threshold, > 0.
        temperature: softmax temperature T > 0.
        a: offline correction coefficient in [0, 1]; None tunes it on the references
            (needs at least 2 reference models). Ignored online.
        num_population: use this many population records z (default
            :data:`NUM_POPULATION`), drawn by :func:`~miaudit.attacks.population_rows` with
            ``AttackerKnowledge.seed`` (None or more than available: all). The audit scores
            the target and the reference models on these records only.
        num_models: number of reference models to request (None: the audit's default).
    """

    name = "rmia"
    requires = Needs(
        reference="random",
        population=True,
        reads=Reads(audited=True, augmented=True, population=Param("num_population")),
    )
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=ZARIFZADEH,
    )

    param_constraints = {
        "gamma": Interval(float, 0, closed="neither"),
        "temperature": Interval(float, 0, closed="neither"),
        "a": Interval(float, 0, 1),
        "num_population": Interval(int, 1),
        "num_models": Interval(int, 1),
    }

    def __init__(
        self,
        *,
        online: bool = False,
        gamma: float = 2.0,
        temperature: float = 1.0,
        a: float | None = None,
        num_population: int | None = NUM_POPULATION,
        num_models: int | None = None,
        tie_break: bool = True,
    ) -> None:
        self.tie_break = tie_break
        self.online = online
        self.gamma = gamma
        self.temperature = temperature
        self.a = a
        self.num_population = num_population
        self.num_models = num_models

    def reference_request(self) -> ReferenceRequest:
        """A random membership matrix over the audited records (each IN for ~half the models)."""
        return ReferenceRequest(kind="random", num_models=self.num_models)

    def fit(self, knowledge: AttackerKnowledge) -> RMIA:
        """Compute Pr(x) for the audited records and the population's sorted ratios."""
        self.check_params()
        reference = self._reference(knowledge)
        if not reference.audited:
            raise DataError(
                "rmia: the reference models have no outputs on the audited records (shadows "
                "trained on another data set?); RMIA needs kind='random' reference models"
            )
        if knowledge.population is None or knowledge.population.n == 0:
            raise DataError(
                "rmia: needs the target's outputs on population records z; pass "
                "AttackerKnowledge(population=...)"
            )
        pop = knowledge.population
        if reference.foreign is not None or not reference.population:
            raise DataError(
                "rmia: needs the reference models' outputs on the attacker's population "
                "records (ReferenceOutputs.population, same rows as knowledge.population)"
            )
        ref_pop = reference.population[0]
        if ref_pop.n != pop.n or not np.array_equal(ref_pop.y, pop.y):
            raise DataError(
                f"rmia: the reference models' population outputs ({ref_pop.n} records) are "
                f"not on the same records as knowledge.population ({pop.n} records)"
            )
        if reference.audited[0].num_classes != knowledge.num_classes:
            raise DataError(
                f"rmia: reference outputs have {reference.audited[0].num_classes} classes, "
                f"the target {knowledge.num_classes}"
            )
        super().fit(knowledge)
        t = float(self.temperature)
        lp_ref_x = np.stack([log_true_class_prob(m, t) for m in reference.audited], axis=1)
        # z: the plain query of the target and of every reference model (see the class doc)
        keep = population_rows(pop.n, self.num_population, knowledge.seed)
        lp_ref_z = np.stack(
            [log_true_class_prob(_plain(m.subset(keep)), t) for m in reference.population], axis=1
        )
        lp_target_z = log_true_class_prob(_plain(pop.subset(keep)), t)
        self.fit_log_probs(
            lp_ref_x, reference.audited_in, lp_ref_z, reference.population_in[keep], lp_target_z
        )
        self.labels_ = reference.audited[0].y.copy()
        return self

    def fit_log_probs(
        self,
        lp_ref_x: np.ndarray,
        x_in: np.ndarray,
        lp_ref_z: np.ndarray,
        z_in: np.ndarray,
        lp_target_z: np.ndarray,
    ) -> RMIA:
        """Fit on log Pr(. | model) of any target kind: the reference models' on the audited
        records x, (n, k), and on the population z, (m, k), with their membership, and the
        target's on z, (m,). A classifier's Pr is its tempered true-class probability
        (:func:`log_true_class_prob`); a language model's, a record's likelihood."""
        self.check_params()
        lp_ref_x, lp_ref_z = np.asarray(lp_ref_x, np.float64), np.asarray(lp_ref_z, np.float64)
        lp_target_z = np.asarray(lp_target_z, np.float64)
        if (
            lp_ref_x.ndim != 2
            or np.shape(x_in) != lp_ref_x.shape
            or lp_ref_z.ndim != 2
            or np.shape(z_in) != lp_ref_z.shape
            or lp_ref_z.shape[1] != lp_ref_x.shape[1]
            or lp_target_z.shape != lp_ref_z.shape[:1]
        ):
            raise DataError(
                "rmia: log-probabilities of mismatched shapes: references on x "
                f"{lp_ref_x.shape} (membership {np.shape(x_in)}), on z {lp_ref_z.shape} "
                f"(membership {np.shape(z_in)}), target on z {lp_target_z.shape}"
            )
        if lp_target_z.shape[0] == 0:
            raise DataError("rmia: needs at least one population record z")
        if self.online:
            a = 1.0  # unused online
            self.a_: float | None = None
            self.tuning_auc_: np.ndarray | None = None
        elif self.a is None:
            a, self.tuning_auc_ = self._tune_a(lp_ref_x, x_in, lp_ref_z, z_in)
            self.a_ = a
        else:
            a = float(self.a)
            self.a_ = a
            self.tuning_auc_ = None
        online = bool(self.online)
        self.log_pr_x_ = log_pr_marginal(lp_ref_x, x_in, online=online, a=a)
        log_pr_z = log_pr_marginal(lp_ref_z, z_in, online=online, a=a)
        self.sorted_log_ratio_z_ = np.sort(lp_target_z - log_pr_z)
        if not hasattr(self, "num_classes_"):
            self.num_classes_ = 0  # fitted on log-probabilities, not a classifier's outputs
        return self

    def _tune_a(
        self, lp_ref_x: np.ndarray, x_in: np.ndarray, lp_ref_z: np.ndarray, z_in: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Attack reference model 0 with models 1..k-1 for every a in :data:`A_GRID`; return
        the a with the highest AUC on the audited records (ties: the smallest a) and the
        AUCs over the grid."""
        k = lp_ref_x.shape[1]
        if k < 2:
            raise DataError(
                "rmia: tuning a (a=None, offline) needs at least 2 reference models (one "
                "stand-in target, the rest as references); pass a=... (the paper uses 0.2 to "
                "0.3) or request more models"
            )
        member = x_in[:, 0]
        if member.all() or not member.any():
            raise DataError(
                "rmia: cannot tune a: the stand-in reference model 0 trained on all or none of "
                "the audited records; pass a=..."
            )
        z_keep = ~z_in[:, 0]
        if not z_keep.any():
            raise DataError("rmia: cannot tune a: every population record trained model 0")
        lp_zt = lp_ref_z[z_keep, 0]
        lp_zr, zr_in = lp_ref_z[z_keep, 1:], z_in[z_keep, 1:]
        lp_xt, lp_xr, xr_in = lp_ref_x[:, 0], lp_ref_x[:, 1:], x_in[:, 1:]
        aucs = np.empty(A_GRID.shape[0])
        for i, a in enumerate(A_GRID):
            ratio_x = lp_xt - log_pr_marginal(lp_xr, xr_in, online=False, a=float(a))
            ratio_z = np.sort(lp_zt - log_pr_marginal(lp_zr, zr_in, online=False, a=float(a)))
            aucs[i] = auc(member, rmia_scores(ratio_x, ratio_z, float(self.gamma)))
        best = int(np.argmax(aucs))  # first maximum = smallest a among ties
        return float(A_GRID[best]), aucs

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        if outputs.n != self.labels_.shape[0] or not np.array_equal(outputs.y, self.labels_):
            raise DataError(
                f"rmia: the scored records are not the records the reference models were "
                f"queried on ({outputs.n} vs {self.labels_.shape[0]} records, or different "
                "labels)"
            )
        return self.score_log_probs(log_true_class_prob(outputs, float(self.temperature)))

    def score_log_probs(self, lp_x: np.ndarray) -> np.ndarray:
        """Scores from the target's log Pr(x | target), (n,), on the records
        :meth:`fit_log_probs` was fitted on; float64 (n,), higher = member."""
        self._check_fitted()
        lp_x = np.asarray(lp_x, dtype=np.float64)
        if lp_x.shape != self.log_pr_x_.shape:
            raise DataError(
                f"rmia: target log-probabilities of shape {lp_x.shape}; fitted on "
                f"{self.log_pr_x_.shape[0]} records"
            )
        log_ratio_x = lp_x - self.log_pr_x_
        scores = rmia_scores(log_ratio_x, self.sorted_log_ratio_z_, float(self.gamma))
        if self.tie_break:
            scores = scores + break_ties(log_ratio_x, self.sorted_log_ratio_z_.shape[0])
        return scores
