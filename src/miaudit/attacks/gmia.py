"""Long et al. 2018, "Understanding Membership Inferences on Well-Generalized Learning Models"
(arXiv:1802.04889): the generalized membership inference attack (GMIA).

GMIA attacks models that do not overfit on average by concentrating on *vulnerable* records,
records with a unique influence on the model:

1. **Selection** (their sec. 4.2, "vulnerable target record selection"): represent every
   candidate record in the reference models' feature space and keep the records with few
   neighbours: record i is selected when fewer than ``max_neighbours + 1`` other records lie
   within distance ``radius`` of it (its neighbour count is at most ``max_neighbours``).
2. **Inference** (their sec. 4.3): for each selected record, compare the target's output on it
   with the distribution of the outputs of reference models that did *not* train on it (a
   one-sided hypothesis test: a member's output is unusually confident).

Choices of this implementation (documented because they differ from or refine the paper):

* Feature space: Long et al. use the deep features (an intermediate layer) of a reference
  model. miaudit's reference outputs are black-box outputs, so a record is represented by its
  row-centred log-probability vector (= the centred logits, softmax being shift-invariant),
  averaged over the reference models that did NOT train on it; records with no such model
  cannot be represented and are never selected. Distance: Euclidean.
* Reference set for the neighbour counts: the representations of all audited records and, when
  the reference models were queried on them (same label space), of the attacker's population
  records (averaged over the models for which they are designated non-members). A record is
  not its own neighbour. The representations never use the target, so the selection does not
  look at the target.
* Radius: ``radius`` when given, else the ``radius_quantile`` quantile of the pairwise
  distances of the reference set (estimated on at most :data:`RADIUS_SAMPLE` records drawn
  with ``knowledge.seed``). The expected neighbour count of a typical record is then about
  ``radius_quantile`` times the size of the reference set: scale ``max_neighbours`` (or
  ``radius_quantile``) with the data size to keep the selection to outliers.
* Test statistic: LiRA's logit-scaled confidence phi = log f(x)_y - log(1 - f(x)_y)
  (:func:`miaudit.signals.scaled_logit`; Long et al. use the output probability / log loss)
  with a Gaussian fitted to the OUT models' phi of the record; score = Phi((phi_target -
  mu_out) / sigma_out), one minus the one-sided p-value (higher = member). Records with a
  single OUT model use the global OUT spread; sigma is floored at 1e-6. Only the first
  augmented view (the plain query) is used.
* Records that are not selected get one common score just below the lowest score a
  selected record can get (``-1e-6``; all selected scores lie in [0, 1]), so they rank last
  and scores stay finite. Metrics over the selected records only (the paper's reporting:
  precision on the vulnerable records, and how many there are) use the fitted mask
  ``selected_`` and ``n_selected_``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.signals import scaled_logit

LONG = (
    "Long et al. 2018, Understanding Membership Inferences on Well-Generalized Learning Models "
    "(arXiv:1802.04889)"
)
#: Records used to estimate the pairwise-distance quantile that sets the default radius.
RADIUS_SAMPLE = 2000
#: Score of records that are not selected (below every selected score, which lie in [0, 1]).
UNSELECTED_SCORE = -1e-6
STD_FLOOR = 1e-6
_CHUNK = 1024


def centred_log_probs(outputs: ModelOutputs) -> np.ndarray:
    """Row-centred log-probabilities (= centred logits when logits are known), (n, C)."""
    if outputs.logits is not None:
        z = outputs.logits
    else:
        z = np.log(np.maximum(outputs.probs, 1e-12))
    return z - z.mean(axis=1, keepdims=True)


def averaged_representation(
    models: tuple[ModelOutputs, ...], use: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the models where ``use[i, j]`` of record i's centred log-probabilities.

    Returns ``(representation (n, C), has (n,))``; ``has`` is False for records with no model.
    """
    use = np.asarray(use, dtype=bool)
    total = np.zeros((models[0].n, models[0].num_classes))
    for j, m in enumerate(models):
        total += np.where(use[:, j, None], centred_log_probs(m), 0.0)
    count = use.sum(axis=1)
    has = count > 0
    rep = np.zeros_like(total)
    rep[has] = total[has] / count[has, None]
    return rep, has


def neighbour_counts(points: np.ndarray, reference: np.ndarray, radius: float) -> np.ndarray:
    """For each row of ``points``, the number of rows of ``reference`` within ``radius``
    (Euclidean, inclusive), computed in chunks of rows (no n x m matrix at once).

    A point that is itself a row of ``reference`` counts itself; callers subtract it.
    """
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    r2 = float(radius) ** 2
    ref_sq = np.einsum("ij,ij->i", reference, reference)
    counts = np.zeros(points.shape[0], dtype=np.int64)
    for start in range(0, points.shape[0], _CHUNK):
        p = points[start : start + _CHUNK]
        d2 = np.einsum("ij,ij->i", p, p)[:, None] + ref_sq[None, :] - 2.0 * p @ reference.T
        # round-off guard: a squared distance that is zero up to float error stays inside
        counts[start : start + _CHUNK] = np.sum(d2 <= r2 + 1e-12 * (1.0 + r2), axis=1)
    return counts


def distance_quantile(points: np.ndarray, q: float, rng: np.random.Generator) -> float:
    """The q-quantile of the pairwise distances (i < j) of at most :data:`RADIUS_SAMPLE` rows."""
    if points.shape[0] > RADIUS_SAMPLE:
        points = points[np.sort(rng.choice(points.shape[0], RADIUS_SAMPLE, replace=False))]
    sq = np.einsum("ij,ij->i", points, points)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    iu = np.triu_indices(points.shape[0], k=1)
    return float(np.quantile(np.sqrt(np.maximum(d2[iu], 0.0)), q))


@register_attack
class GMIA(Attack):
    """GMIA of Long et al. 2018: select vulnerable records, then test them against OUT
    reference models (see the module docstring for the exact choices).

    Args:
        num_models: reference models to request (None: the audit's default); a random
            membership matrix over the audited records (as LiRA).
        max_neighbours: a record with at most this many neighbours is selected (their gamma).
        radius: neighbour distance (their alpha); None: from ``radius_quantile``.
        radius_quantile: quantile of the pairwise representation distances used as the
            radius when ``radius`` is None.

    Fitted attributes: ``selected_`` (bool, per audited record), ``n_selected_``,
    ``neighbour_counts_`` (per audited record; -1 for records that cannot be represented),
    ``radius_``, ``mu_out_`` and ``std_out_`` (per audited record).
    """

    name = "gmia"
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=LONG,
    )

    def __init__(
        self,
        *,
        num_models: int | None = None,
        max_neighbours: int = 5,
        radius: float | None = None,
        radius_quantile: float = 0.1,
    ) -> None:
        self.num_models = num_models
        self.max_neighbours = max_neighbours
        self.radius = radius
        self.radius_quantile = radius_quantile

    def reference_request(self) -> ReferenceRequest:
        """A random membership matrix over the audited records (each OUT for ~half the models)."""
        return ReferenceRequest(kind="random", num_models=self.num_models)

    def _check_params(self) -> None:
        if self.num_models is not None and (
            isinstance(self.num_models, bool)
            or not isinstance(self.num_models, int | np.integer)
            or self.num_models < 1
        ):
            raise ConfigError(f"gmia: num_models must be a positive integer, got {self.num_models}")
        if (
            isinstance(self.max_neighbours, bool)
            or not isinstance(self.max_neighbours, int | np.integer)
            or self.max_neighbours < 0
        ):
            raise ConfigError(
                f"gmia: max_neighbours must be an integer >= 0, got {self.max_neighbours!r}"
            )
        if self.radius is not None and (
            not isinstance(self.radius, int | float)
            or not np.isfinite(self.radius)
            or self.radius < 0
        ):
            raise ConfigError(f"gmia: radius must be a number >= 0 or None, got {self.radius!r}")
        q = self.radius_quantile
        if not isinstance(q, int | float) or not 0.0 < q < 1.0:
            raise ConfigError(f"gmia: radius_quantile must be in (0, 1), got {q!r}")

    def fit(self, knowledge: AttackerKnowledge) -> GMIA:
        """Select the vulnerable audited records and fit their OUT distributions of phi."""
        self._check_params()
        reference = self._reference(knowledge)
        if not reference.audited:
            raise DataError(
                "gmia: the reference models have no outputs on the audited records (shadows "
                "trained on another data set?); GMIA needs kind='random' reference models"
            )
        if reference.audited[0].num_classes != knowledge.num_classes:
            raise DataError(
                f"gmia: reference outputs have {reference.audited[0].num_classes} classes, "
                f"the target {knowledge.num_classes}"
            )
        is_out = ~reference.audited_in
        if not is_out.any():
            raise DataError(
                "gmia: no reference model is OUT for any audited record; the reference "
                "membership matrix must leave records out (kind='random')"
            )
        super().fit(knowledge)
        rng = np.random.default_rng(knowledge.seed)
        counts, radius = self._neighbours(reference, rng)
        self.neighbour_counts_ = counts
        self.radius_ = radius
        self.selected_ = (counts >= 0) & (counts <= self.max_neighbours)
        self.n_selected_ = int(self.selected_.sum())
        self.mu_out_, self.std_out_ = _out_gaussians(reference, is_out)
        self.labels_ = reference.audited[0].y.copy()
        return self

    def _neighbours(
        self, reference: ReferenceOutputs, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """Neighbour count of every audited record (-1: not representable) and the radius."""
        rep, has = averaged_representation(reference.audited, ~reference.audited_in)
        pool = [rep[has]]
        if (
            reference.population
            and reference.foreign is None
            and reference.population[0].num_classes == rep.shape[1]
        ):
            prep, phas = averaged_representation(reference.population, reference.population_out)
            pool.append(prep[phas])
        pool_arr = np.concatenate(pool)
        if self.radius is not None:
            radius = float(self.radius)
        elif pool_arr.shape[0] < 2:
            raise DataError("gmia: needs at least 2 represented records to choose a radius")
        else:
            radius = distance_quantile(pool_arr, float(self.radius_quantile), rng)
        counts = np.full(rep.shape[0], -1, dtype=np.int64)
        # every represented audited record is in the pool: remove itself from its count
        counts[has] = neighbour_counts(rep[has], pool_arr, radius) - 1
        return counts, radius

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        if outputs.n != self.labels_.shape[0] or not np.array_equal(outputs.y, self.labels_):
            raise DataError(
                f"gmia: the scored records are not the records the reference models were "
                f"queried on ({outputs.n} vs {self.labels_.shape[0]} records, or different "
                "labels)"
            )
        phi = scaled_logit(outputs)
        p_member = ndtr((phi - self.mu_out_) / self.std_out_)
        return np.where(self.selected_, p_member, UNSELECTED_SCORE)


def _out_gaussians(
    reference: ReferenceOutputs, is_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per audited record, mean and std (ddof=0) of phi over its OUT reference models.

    A record with one OUT model gets the global std of all OUT phi values; one with none gets
    the global OUT mean and std (such records are never selected: they are not represented).
    """
    phi = np.stack([scaled_logit(m) for m in reference.audited], axis=1)  # (n, k)
    w = is_out.astype(np.float64)
    count = is_out.sum(axis=1)
    mu = (phi * w).sum(axis=1) / np.maximum(count, 1)
    std = np.sqrt((((phi - mu[:, None]) ** 2) * w).sum(axis=1) / np.maximum(count, 1))
    g_mu, g_std = float(phi[is_out].mean()), max(float(phi[is_out].std()), STD_FLOOR)
    std = np.maximum(std, STD_FLOOR)
    std[count < 2] = g_std
    mu[count == 0] = g_mu
    return mu, std
