"""Choquette-Choo et al. 2021, "Label-Only Membership Inference Attacks" (ICML), sec. 4:
the attacker sees only the target's predicted labels.

* ``boundary_distance``: the distance from a record to the target's decision boundary,
  estimated with HopSkipJump from label queries (:mod:`miaudit.signals.boundary`);
  misclassified records get 0; score = distance (the survey's eq. 3: member iff
  d(x_adv, x) >= tau). Li & Zhang 2021 (CCS), sec. 5 propose the same "boundary attack"
  concurrently; its default threshold follows their percentile choice.
* ``augmentation``: whether the target's label stays y on augmented copies (flips and shifts
  of images, noise or bit flips of tabular records).

Both have ``access = "labels"``: scored through :meth:`Attack.score_records` with a
label-only, query-counted view of the target whose budget is ``max_queries_per_record``
times the number of audited records. Scores follow the package convention: float64 (n,),
higher = more likely a member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from miaudit.attacks._label_only import (
    CHOQUETTE_CHOO,
    LI_ZHANG,
    LabelOnlyAttack,
    PredictLabels,
    feature_range,
    fit_target,
    labels_of,
    population_records,
    shadow_trainer,
    split_halves,
)
from miaudit.attacks.base import AttackerKnowledge, Needs, ThreatModel, When, register_attack
from miaudit.attacks.calibrated import best_threshold
from miaudit.errors import DataError
from miaudit.signals.boundary import hop_skip_jump_distance
from miaudit.validation import Interval, Options

if TYPE_CHECKING:
    from miaudit.targets import Target


# -- boundary distance (HopSkipJump) -------------------------------------------------------
@register_attack
class BoundaryDistance(LabelOnlyAttack):
    """Label-only boundary distance (Choquette-Choo et al. 2021, sec. 4; Li & Zhang 2021,
    sec. 5): score = HopSkipJump L2 distance to the target's boundary, 0 if misclassified.

    ``fit`` queries (through ``knowledge.target``, counted apart from the scoring budget) the
    labels of the population records: they become the known adversarial starting points of
    the search (each audited record starts from the nearest population record of another
    predicted class, see :mod:`miaudit.signals.boundary`) and give the per-feature clip box
    (widened by the audited records at scoring time).

    Threshold (``calibration``):

    * "percentile" (default): ``threshold_`` = the ``percentile``-th percentile of the
      distances of ``n_calibration`` population records, which are non-members of the
      target, on the target itself (so about ``100 - percentile`` % false positives). This
      follows Li & Zhang's "threshold choosing" (sec. 5.2, a percentile of the distances of
      records the attacker knows to be non-members), as we read it.
    * "shadow": Choquette-Choo et al. choose the threshold on shadow models: a shadow is
      trained (``knowledge.train_model``) on half of the population relabelled by the
      target; the same HopSkipJump distances are measured on the shadow for
      ``n_calibration`` of its training records (with the labels it was trained on, as
      the target's members carry their training labels) and as many held-out ones (with
      their true labels); ``threshold_`` maximises the balanced accuracy between them.
      The shadow is queried freely (it is the attacker's own model).

    Args:
        max_queries_per_record: label queries per audited record (the query of the record
            itself included); the pipeline enforces ``max_queries_per_record * n``.
        calibration: "percentile" or "shadow" (see above).
        percentile: percentile of the non-member distances used as threshold.
        n_calibration: population records whose distances calibrate the threshold.
        init: "population" (start from population records of another predicted class) or
            "noise" (HSJ's uniform-noise start only).
        tol: binary-search precision (None: :func:`miaudit.signals.boundary.default_tol`).
        init_num_evals: HSJ's B_0 (None: chosen from the budget).
    """

    name = "boundary_distance"
    requires = Needs(access="labels", population_data=True, recipe=When("calibration", "shadow"))
    threat_model = ThreatModel(
        knowledge="black-box labels",
        # the default percentile calibration needs no shadow; calibration="shadow" does
        needs_shadow_models=False,
        needs_same_distribution_data=True,
        needs_architecture=False,
        paper=f"{CHOQUETTE_CHOO}, sec. 4 (boundary distance); {LI_ZHANG}, sec. 5; HopSkipJump "
        "(Chen, Jordan & Wainwright 2020, IEEE S&P)",
    )

    param_constraints = {
        "max_queries_per_record": Interval(int, 1),
        "calibration": Options(("percentile", "shadow")),
        "percentile": Interval(float, 0, 100),
        "n_calibration": Interval(int, 1),
        "init": Options(("population", "noise")),
        "tol": Interval(float, 0, 1, closed="neither"),
        "init_num_evals": Interval(int, 1),
    }

    def __init__(
        self,
        *,
        max_queries_per_record: int = 200,
        calibration: str = "percentile",
        percentile: float = 90.0,
        n_calibration: int = 100,
        init: str = "population",
        tol: float | None = None,
        init_num_evals: int | None = None,
    ) -> None:
        self.max_queries_per_record = max_queries_per_record
        self.calibration = calibration
        self.percentile = percentile
        self.n_calibration = n_calibration
        self.init = init
        self.tol = tol
        self.init_num_evals = init_num_evals

    def _distances(
        self,
        predict_labels: PredictLabels,
        x: np.ndarray,
        y: np.ndarray,
        starts: tuple[np.ndarray, np.ndarray] | None,
        seed: int,
    ) -> np.ndarray:
        lo, hi = feature_range(self.clip_box_[0][None], self.clip_box_[1][None], x)
        distances, _ = hop_skip_jump_distance(
            predict_labels,
            x,
            y,
            max_queries_per_record=self.max_queries_per_record,
            seed=seed,
            clip_min=lo,
            clip_max=hi,
            starts=starts if self.init == "population" else None,
            init_num_evals=self.init_num_evals,
            tol=self.tol,
        )
        return distances

    def fit_queries(self, n_population: int) -> int:
        """The population's labels, and with percentile calibration up to
        ``max_queries_per_record`` for each of ``min(n_calibration, n_population)`` records
        (the shadow of ``calibration="shadow"`` is the attacker's own, queried freely)."""
        calibration = 0
        if self.calibration == "percentile":
            calibration = min(int(self.n_calibration), int(n_population))
        return int(n_population) + calibration * int(self.max_queries_per_record)

    def fit(self, knowledge: AttackerKnowledge) -> BoundaryDistance:
        self.check_params()
        x_pop, y_pop = population_records(self, knowledge)
        target = fit_target(self, knowledge)
        y_pop = labels_of(target, x_pop, y_pop, "population")
        if self.calibration == "shadow":
            train = shadow_trainer(self, knowledge)
        super().fit(knowledge)
        self.seed_ = int(knowledge.seed)
        self.clip_box_ = feature_range(x_pop)
        predicted = target.predict_labels(x_pop)
        self.starts_ = (x_pop, predicted)
        rng = np.random.default_rng(self.seed_)
        if self.calibration == "percentile":
            cal = np.sort(rng.permutation(len(y_pop))[: self.n_calibration])
            d_out = self._distances(
                target.predict_labels, x_pop[cal], y_pop[cal], self.starts_, self.seed_ + 1
            )
            self.calibration_distances_ = d_out
            self.threshold_ = float(np.percentile(d_out, self.percentile))
            return self
        inside, outside = split_halves(len(y_pop), self.seed_)
        shadow = train(x_pop[inside], predicted[inside], self.seed_)
        shadow_starts = (x_pop, shadow.predict_labels(x_pop))
        k = min(self.n_calibration, inside.size, outside.size)
        if k == 0:
            raise DataError(
                f"{self.name}: calibration='shadow' needs at least 2 population records"
            )
        cin, cout = inside[:k], outside[:k]
        d_in = self._distances(
            shadow.predict_labels, x_pop[cin], predicted[cin], shadow_starts, self.seed_ + 1
        )
        d_out = self._distances(
            shadow.predict_labels, x_pop[cout], y_pop[cout], shadow_starts, self.seed_ + 2
        )
        self.calibration_distances_ = d_out
        self.threshold_ = best_threshold(d_in, d_out)
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        y = labels_of(target, x, y, "audited")
        return self._distances(target.predict_labels, x, y, self.starts_, self.seed_ + 3)


# -- data augmentation ---------------------------------------------------------------------
@register_attack
class Augmentation(LabelOnlyAttack):
    """Data-augmentation attack (Choquette-Choo et al. 2021, sec. 4): query the target's
    labels of the record and of ``n_augmentations`` augmented copies; the agreement vector
    says, per copy, whether the label equals y. Members' labels are more robust.

    Augmentations (fixed by the seed, the same for the shadow and the target):

    * images ((n, C, H, W)): each copy is one transform (horizontal flip or not, shift by
      (dy, dx) with |dy|, |dx| <= ``max_shift``, empty border zero-filled,
      :func:`miaudit.data.augment.shift_images`), drawn without replacement from all
      non-identity transforms (cycling when more copies than transforms are asked for); the
      paper's attack uses all translations of a given size, or rotations;
    * tabular records: continuous features get Gaussian noise of standard deviation
      ``noise_scale`` times the feature's standard deviation (in the population records,
      else in the audited ones); binary (0/1) features are flipped independently with
      probability ``flip_fraction`` (the paper flips bits of the binary Purchase/Texas
      records; independent flips are our choice).

    Score (``classifier``):

    * "threshold": the fraction of copies (the record itself included) labelled y;
      ``threshold_`` None (the pipeline reports its best threshold).
    * "logistic": the paper trains a small attack model on the agreement vectors of shadow
      members and non-members; here a shadow is trained (``knowledge.train_model``) on half
      of the population relabelled by the target (queries through ``knowledge.target``),
      its agreement vectors on that half (with the labels it trained on) and on the other
      half (true labels) fit a scikit-learn LogisticRegression; score = its decision
      function, ``threshold_`` = 0 (probability 1/2).

    Args:
        n_augmentations: augmented copies per record; ``max_queries_per_record`` is
            ``n_augmentations + 1``.
        max_shift: largest image shift in pixels.
        noise_scale: Gaussian noise in units of each continuous feature's std.
        flip_fraction: probability of flipping each binary feature.
        classifier: "threshold" or "logistic".
    """

    name = "augmentation"
    requires = Needs(
        access="labels",
        population_data=When("classifier", "logistic"),
        recipe=When("classifier", "logistic"),
    )
    threat_model = ThreatModel(
        knowledge="black-box labels",
        # the default threshold score needs none; classifier="logistic" trains one shadow
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=f"{CHOQUETTE_CHOO}, sec. 4 (data augmentation attack)",
    )

    param_constraints = {
        "n_augmentations": Interval(int, 1),
        "max_shift": Interval(int, 0),
        "noise_scale": Interval(float, 0),
        "flip_fraction": Interval(float, 0, 1),
        "classifier": Options(("threshold", "logistic")),
    }

    def __init__(
        self,
        *,
        n_augmentations: int = 10,
        max_shift: int = 1,
        noise_scale: float = 0.1,
        flip_fraction: float = 0.05,
        classifier: str = "threshold",
    ) -> None:
        self.n_augmentations = n_augmentations
        self.max_shift = max_shift
        self.noise_scale = noise_scale
        self.flip_fraction = flip_fraction
        self.classifier = classifier

    @property
    def max_queries_per_record(self) -> int:
        """The record and its copies: ``n_augmentations + 1`` label queries."""
        return int(self.n_augmentations) + 1

    def augmented_copies(self, x: np.ndarray, seed: int) -> list[np.ndarray]:
        """The ``n_augmentations`` augmented copies of ``x`` (the record itself not included)."""
        from miaudit.data.augment import shift_images

        rng = np.random.default_rng(seed)
        if x.ndim == 4:
            s = int(self.max_shift)
            transforms = [
                (flip, dy, dx)
                for flip in (False, True)
                for dy in range(-s, s + 1)
                for dx in range(-s, s + 1)
                if (flip, dy, dx) != (False, 0, 0)
            ]
            order = rng.permutation(len(transforms))
            copies = []
            for i in range(self.n_augmentations):
                flip, dy, dx = transforms[order[i % len(order)]]
                base = x[:, :, :, ::-1] if flip else x
                copies.append(shift_images(np.ascontiguousarray(base), dy, dx))
            return copies
        flat = x.reshape(len(x), -1).astype(np.float64)
        stats = getattr(self, "feature_stats_", None)
        std, binary = stats if stats is not None else _stats(flat)
        copies = []
        for _ in range(self.n_augmentations):
            noisy = flat + rng.standard_normal(flat.shape) * (self.noise_scale * std)
            flips = rng.random(flat.shape) < self.flip_fraction
            noisy = np.where(binary, np.where(flips, 1.0 - flat, flat), noisy)
            copies.append(noisy.reshape(x.shape).astype(x.dtype, copy=False))
        return copies

    def agreement(self, target: Target, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
        """Bool (n, 1 + n_augmentations): label == y for the record and each copy, from one
        ``predict_labels`` call on all of them."""
        views = [x, *self.augmented_copies(x, seed)]
        labels = target.predict_labels(np.concatenate(views, axis=0))
        return (labels.reshape(len(views), len(x)) == y[None, :]).T

    def fit_queries(self, n_population: int) -> int:
        """The population's labels with ``classifier="logistic"`` (to train the shadow), none
        with the threshold score."""
        return int(n_population) if self.classifier == "logistic" else 0

    def fit(self, knowledge: AttackerKnowledge) -> Augmentation:
        self.check_params()
        population = knowledge.population_data
        if self.classifier == "logistic":
            x_pop, y_pop = population_records(self, knowledge)
            target = fit_target(self, knowledge)
            train = shadow_trainer(self, knowledge)
        super().fit(knowledge)
        self.seed_ = int(knowledge.seed)
        self.feature_stats_: tuple[np.ndarray, np.ndarray] | None = None
        if population is not None and len(population[0]) and np.asarray(population[0]).ndim != 4:
            self.feature_stats_ = _stats(np.asarray(population[0]).reshape(len(population[0]), -1))
        self.model_ = None
        if self.classifier == "threshold":
            return self
        from sklearn.linear_model import LogisticRegression

        y_pop = labels_of(target, x_pop, y_pop, "population")
        relabelled = target.predict_labels(x_pop)
        inside, outside = split_halves(len(y_pop), self.seed_)
        if inside.size == 0 or outside.size == 0:
            raise DataError(f"{self.name}: classifier='logistic' needs >= 2 population records")
        shadow = train(x_pop[inside], relabelled[inside], self.seed_)
        a_in = self.agreement(shadow, x_pop[inside], relabelled[inside], self.seed_ + 1)
        a_out = self.agreement(shadow, x_pop[outside], y_pop[outside], self.seed_ + 1)
        features = np.concatenate([a_in, a_out]).astype(np.float64)
        member = np.r_[np.ones(len(a_in), bool), np.zeros(len(a_out), bool)]
        self.model_ = LogisticRegression().fit(features, member)
        self.threshold_ = 0.0
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        y = labels_of(target, x, y, "audited")
        agree = self.agreement(target, x, y, self.seed_ + 1)
        if self.model_ is None:
            return agree.mean(axis=1)
        return self.model_.decision_function(agree.astype(np.float64))


def _stats(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature standard deviation and binary (only 0/1 values) mask."""
    binary = np.all((flat == 0) | (flat == 1), axis=0)
    return flat.std(axis=0), binary
