"""Label-only membership inference: the attacker sees only the target's predicted labels.

Four attacks (all ``access = "labels"``: scored through :meth:`Attack.score_records` with a
label-only, query-counted view of the target whose budget is ``max_queries_per_record``
times the number of audited records):

* ``boundary_distance``: Choquette-Choo et al. 2021 (ICML), sec. 4 "boundary distance";
  Li & Zhang 2021 (CCS), sec. 5 "boundary attack" (decision-based): the distance from a
  record to the target's decision boundary, estimated with HopSkipJump from label queries
  (:mod:`miaudit.signals.boundary`); misclassified records get 0; score = distance (the
  survey's eq. 3: member iff d(x_adv, x) >= tau).
* ``boundary_transfer``: Li & Zhang 2021, sec. 4 "transfer attack" (a shadow trained on
  population records relabelled by the target), with the boundary distance of
  Choquette-Choo et al. measured white-box on the shadow (FGSM line search, PGD minimal
  perturbation or Carlini-Wagner L2, :mod:`miaudit.signals.adversarial`); one target query
  per record.
* ``augmentation``: Choquette-Choo et al. 2021, sec. 4 "data augmentation": whether the
  target's label stays y on augmented copies (flips and shifts of images, noise or bit
  flips of tabular records).
* ``label_transfer``: Li & Zhang 2021, sec. 4 "transfer attack": the relabelled shadow's
  loss (or confidence) on the audited records; no target query at scoring time.

Scores follow the package convention: float64 (n,), higher = more likely a member.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from miaudit.attacks.base import Attack, AttackerKnowledge, ThreatModel, register_attack
from miaudit.attacks.calibrated import best_threshold
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs
from miaudit.signals.boundary import hop_skip_jump_distance
from miaudit.validation import Interval, Options

if TYPE_CHECKING:
    from torch import nn

    from miaudit.targets import Target

TrainFn = Callable[[np.ndarray, np.ndarray, int], "Target"]
PredictLabels = Callable[[np.ndarray], np.ndarray]

CHOQUETTE_CHOO = "Choquette-Choo et al. 2021, Label-Only Membership Inference Attacks (ICML)"
LI_ZHANG = "Li & Zhang 2021, Membership Leakage in Label-Only Exposures (CCS)"


# -- shared helpers ------------------------------------------------------------------------
def _population(attack: Attack, knowledge: AttackerKnowledge) -> tuple[np.ndarray, np.ndarray]:
    if knowledge.population_data is None:
        raise DataError(
            f"{attack.name}: this attack needs the attacker's population records "
            "(AttackerKnowledge.population_data = (x, y)); give the audit population data"
        )
    x, y = (np.asarray(a) for a in knowledge.population_data)
    if len(x) == 0 or len(x) != len(y):
        raise DataError(
            f"{attack.name}: population_data must be (x, y) with the same, non-zero number "
            f"of records, got {len(x)} and {len(y)}"
        )
    return x, y


def _target(attack: Attack, knowledge: AttackerKnowledge) -> Target:
    if knowledge.target is None:
        raise DataError(
            f"{attack.name}: this attack queries the target's labels during fit "
            "(AttackerKnowledge.target); run it through miaudit.audit or pass target=..."
        )
    return knowledge.target


def _trainer(attack: Attack, knowledge: AttackerKnowledge) -> TrainFn:
    if knowledge.train_model is None:
        raise DataError(
            f"{attack.name}: this attack trains its own shadow model and needs a reference "
            "recipe (AttackerKnowledge.train_model; in a config: reference.model)"
        )
    return knowledge.train_model


def _labels_of(target: Target, x: np.ndarray, y: np.ndarray, what: str) -> np.ndarray:
    """Validated integer labels ``y`` for records ``x``."""
    y_arr = np.asarray(y)
    if y_arr.shape != (len(x),):
        raise DataError(f"mismatched lengths: {len(x)} {what} records but labels {y_arr.shape}")
    if not np.issubdtype(y_arr.dtype, np.integer):
        raise DataError(f"{what} labels must be integers, got dtype {y_arr.dtype}")
    if y_arr.size and (y_arr.min() < 0 or y_arr.max() >= target.num_classes):
        raise DataError(f"{what} labels outside the classes 0..{target.num_classes - 1}")
    return y_arr.astype(np.int64)


def _feature_range(*arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature min and max over the flattened records of ``arrays``."""
    flat = np.concatenate([a.reshape(len(a), -1).astype(np.float64) for a in arrays if len(a)])
    return flat.min(axis=0), flat.max(axis=0)


def _split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def _shadow_module(attack: Attack, shadow: Target) -> nn.Module:
    from miaudit.targets import TorchTarget

    if not isinstance(shadow, TorchTarget):
        raise DataError(
            f"{attack.name} needs a torch reference recipe: the shadow model must be a torch "
            f"module (TorchTarget, e.g. reference.model: mlp or cnn) to compute gradients, "
            f"got {shadow.description}"
        )
    return shadow.module


class _LabelOnlyAttack(Attack):
    """Base of the label-only attacks: they query the target themselves."""

    access: ClassVar[Literal["labels"]] = "labels"

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        raise DataError(
            f"{self.name} is a label-only attack: it queries the target itself; call "
            "score_records(target, x, y) (miaudit.audit does), not score_samples(outputs)"
        )


# -- boundary distance (HopSkipJump) -------------------------------------------------------
@register_attack
class BoundaryDistance(_LabelOnlyAttack):
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
    access: ClassVar[Literal["labels"]] = "labels"
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

    def needs_recipe(self) -> bool:
        """Shadow calibration trains a shadow model with the reference recipe."""
        return self.calibration == "shadow"

    def _distances(
        self,
        predict_labels: PredictLabels,
        x: np.ndarray,
        y: np.ndarray,
        starts: tuple[np.ndarray, np.ndarray] | None,
        seed: int,
    ) -> np.ndarray:
        lo, hi = _feature_range(self.clip_box_[0][None], self.clip_box_[1][None], x)
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

    def fit(self, knowledge: AttackerKnowledge) -> BoundaryDistance:
        self.check_params()
        x_pop, y_pop = _population(self, knowledge)
        target = _target(self, knowledge)
        y_pop = _labels_of(target, x_pop, y_pop, "population")
        if self.calibration == "shadow":
            train = _trainer(self, knowledge)
        super().fit(knowledge)
        self.seed_ = int(knowledge.seed)
        self.clip_box_ = _feature_range(x_pop)
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
        inside, outside = _split_halves(len(y_pop), self.seed_)
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
        y = _labels_of(target, x, y, "audited")
        return self._distances(target.predict_labels, x, y, self.starts_, self.seed_ + 3)


# -- boundary distance on a relabelled shadow (transfer) ------------------------------------
@register_attack
class BoundaryTransfer(_LabelOnlyAttack):
    """Boundary distance measured white-box on a shadow that imitates the target.

    Li & Zhang 2021, sec. 4 (transfer attack): in ``fit``, the population records are
    labelled by the target (queries through ``knowledge.target``) and a shadow is trained on
    them with ``knowledge.train_model``. At scoring, each audited record's distance to the
    *shadow's* boundary is measured with white-box gradient attacks (``method``: "fgsm",
    the fast gradient method with a line search over epsilon; "pgd", the smallest PGD-L2
    perturbation found by bisection over the radius; or "cw", Carlini & Wagner 2017's L2
    attack (S&P, sec. V-A: Adam on ||delta||^2 + c * max(Z_y - max_{i != y} Z_i, 0), binary
    search over c; the attack Choquette-Choo et al. use for their white-box distances);
    :mod:`miaudit.signals.adversarial`),
    the white-box boundary distance of Choquette-Choo et al. 2021, sec. 4, on a shadow
    instead of the target. The only target queries are the labels of the audited records
    (one each): records the target misclassifies get distance 0 (as do records the shadow
    misclassifies). The clip box is the per-feature range of the population and audited
    records; ``max_epsilon`` defaults to the box's diameter.

    ``threshold_`` is None: the shadow's own training records would calibrate it wrongly
    (they are far from the shadow's boundary because the shadow trained on them, not
    because the target did), and every population record trains the shadow.

    Args:
        method: "fgsm", "pgd" or "cw" (L2 only).
        norm: "l2" or "linf" (distance and attack norm).
        max_epsilon: largest perturbation searched (None: the clip box's diameter); records
            not flipped within it get it.
        steps: PGD steps per radius (None: 20), or C&W Adam steps per constant c (None: 100).
        n_search: radius bisection steps (PGD), or C&W binary search steps over c.
        lr: C&W's Adam learning rate (in tanh space with ``cw_box="tanh"``, in feature units
            with "clip"). Default 0.1, not the paper's 0.01: the clip box is the records'
            per-feature range, so binary features lie on its faces and start in tanh's
            saturated part (w = arctanh(1 - 1e-6) = 7.25), which Adam leaves at about ``lr``
            per step; on Location (binary features), lr 0.01 with 100 steps found no
            adversarial point for most records (distance = ``max_epsilon``), lr 0.1 finds the
            same distances as PGD. With "clip", use a learning rate well below the typical
            distance per feature (e.g. 1e-3 on Location).
        initial_const: C&W's first c (then x10 until success, then bisection).
        cw_box: how C&W keeps records in the clip box: "tanh" (the paper's change of
            variables) or "clip" (optimise the perturbation directly and clip, as FGSM and
            PGD do).
    """

    name = "boundary_transfer"
    access: ClassVar[Literal["labels"]] = "labels"
    #: one query per audited record: its label (misclassified -> distance 0)
    max_queries_per_record: ClassVar[int] = 1
    threat_model = ThreatModel(
        knowledge="black-box labels",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=False,
        paper=f"{LI_ZHANG}, sec. 4 (transfer attack); {CHOQUETTE_CHOO}, sec. 4 (boundary "
        "distance, white-box)",
    )

    param_constraints = {
        "method": Options(("fgsm", "pgd", "cw")),
        "norm": Options(("l2", "linf")),
        "max_epsilon": Interval(float, 0, closed="neither"),
        "steps": Interval(int, 1),
        "n_search": Interval(int, 0),
        "lr": Interval(float, 0, closed="neither"),
        "initial_const": Interval(float, 0, closed="neither"),
        "cw_box": Options(("tanh", "clip")),
    }

    @staticmethod
    def param_combination_error(params: dict[str, Any]) -> str | None:
        """C&W measures L2 distances and needs at least one binary-search step over c."""
        if params["method"] != "cw":
            return None
        if params["norm"] != "l2":
            return f"method 'cw' measures L2 distances, got norm={params['norm']!r}"
        if params["n_search"] < 1:
            return f"n_search must be >= 1 with method 'cw', got {params['n_search']!r}"
        return None

    def __init__(
        self,
        *,
        method: str = "pgd",
        norm: str = "l2",
        max_epsilon: float | None = None,
        steps: int | None = None,
        n_search: int = 8,
        lr: float = 0.1,
        initial_const: float = 1e-3,
        cw_box: str = "tanh",
    ) -> None:
        self.method = method
        self.norm = norm
        self.max_epsilon = max_epsilon
        self.steps = steps
        self.n_search = n_search
        self.lr = lr
        self.initial_const = initial_const
        self.cw_box = cw_box

    def needs_recipe(self) -> bool:
        """It trains a shadow model with the reference recipe."""
        return True

    def fit(self, knowledge: AttackerKnowledge) -> BoundaryTransfer:
        self.check_params()
        x_pop, y_pop = _population(self, knowledge)
        target = _target(self, knowledge)
        _labels_of(target, x_pop, y_pop, "population")
        train = _trainer(self, knowledge)
        super().fit(knowledge)
        relabelled = target.predict_labels(x_pop)
        self.shadow_module_ = _shadow_module(self, train(x_pop, relabelled, int(knowledge.seed)))
        self.clip_box_ = _feature_range(x_pop)
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from miaudit.signals.adversarial import cw_l2_distance, fgsm_distance, pgd_distance

        x = np.asarray(x)
        y = _labels_of(target, x, y, "audited")
        lo, hi = _feature_range(self.clip_box_[0][None], self.clip_box_[1][None], x)
        if self.max_epsilon is None:
            span = hi - lo
            max_eps = float(np.linalg.norm(span) if self.norm == "l2" else span.max())
            max_eps = max(max_eps, 1e-12)
        else:
            max_eps = float(self.max_epsilon)
        wrong = target.predict_labels(x) != y
        if self.method == "fgsm":
            dist = fgsm_distance(
                self.shadow_module_,
                x,
                y,
                max_epsilon=max_eps,
                norm=self.norm,
                clip_min=lo,
                clip_max=hi,
            )
        elif self.method == "cw":
            dist = cw_l2_distance(
                self.shadow_module_,
                x,
                y,
                max_epsilon=max_eps,
                steps=100 if self.steps is None else self.steps,
                binary_search_steps=self.n_search,
                initial_const=self.initial_const,
                lr=self.lr,
                box=self.cw_box,
                clip_min=lo,
                clip_max=hi,
            )
        else:
            dist = pgd_distance(
                self.shadow_module_,
                x,
                y,
                max_epsilon=max_eps,
                norm=self.norm,
                steps=20 if self.steps is None else self.steps,
                n_search=self.n_search,
                clip_min=lo,
                clip_max=hi,
            )
        dist[wrong] = 0.0
        return dist


# -- data augmentation ---------------------------------------------------------------------
@register_attack
class Augmentation(_LabelOnlyAttack):
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
    access: ClassVar[Literal["labels"]] = "labels"
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

    def needs_recipe(self) -> bool:
        """The logistic variant trains a shadow model with the reference recipe."""
        return self.classifier == "logistic"

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

    def fit(self, knowledge: AttackerKnowledge) -> Augmentation:
        self.check_params()
        population = knowledge.population_data
        if self.classifier == "logistic":
            x_pop, y_pop = _population(self, knowledge)
            target = _target(self, knowledge)
            train = _trainer(self, knowledge)
        super().fit(knowledge)
        self.seed_ = int(knowledge.seed)
        self.feature_stats_: tuple[np.ndarray, np.ndarray] | None = None
        if population is not None and len(population[0]) and np.asarray(population[0]).ndim != 4:
            self.feature_stats_ = _stats(np.asarray(population[0]).reshape(len(population[0]), -1))
        self.model_ = None
        if self.classifier == "threshold":
            return self
        from sklearn.linear_model import LogisticRegression

        y_pop = _labels_of(target, x_pop, y_pop, "population")
        relabelled = target.predict_labels(x_pop)
        inside, outside = _split_halves(len(y_pop), self.seed_)
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
        y = _labels_of(target, x, y, "audited")
        agree = self.agreement(target, x, y, self.seed_ + 1)
        if self.model_ is None:
            return agree.mean(axis=1)
        return self.model_.decision_function(agree.astype(np.float64))


def _stats(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature standard deviation and binary (only 0/1 values) mask."""
    binary = np.all((flat == 0) | (flat == 1), axis=0)
    return flat.std(axis=0), binary


# -- label transfer ------------------------------------------------------------------------
@register_attack
class LabelTransfer(_LabelOnlyAttack):
    """Li & Zhang 2021, sec. 4 (transfer attack): the attacker labels its population
    records with the target (queries through ``knowledge.target`` in ``fit``), trains a
    shadow on them (``knowledge.train_model``), and scores each audited record by the
    shadow's loss on it with its true label (score = -loss) or by the shadow's confidence in
    the true label (``signal="confidence"``).

    The audited records are never sent to the target (``max_queries_per_record`` = 0):
    the shadow imitates the target, so records the target trained on look like members to
    the shadow too. ``threshold_`` is None (no held-out calibration: every population record
    trains the shadow).
    """

    name = "label_transfer"
    access: ClassVar[Literal["labels"]] = "labels"
    #: the audited records are not sent to the target
    max_queries_per_record: ClassVar[int] = 0
    threat_model = ThreatModel(
        knowledge="black-box labels",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=False,
        paper=f"{LI_ZHANG}, sec. 4 (transfer attack)",
    )

    param_constraints = {"signal": Options(("loss", "confidence"))}

    def __init__(self, *, signal: str = "loss") -> None:
        self.signal = signal

    def needs_recipe(self) -> bool:
        """It trains a shadow model with the reference recipe."""
        return True

    def fit(self, knowledge: AttackerKnowledge) -> LabelTransfer:
        self.check_params()
        x_pop, y_pop = _population(self, knowledge)
        target = _target(self, knowledge)
        _labels_of(target, x_pop, y_pop, "population")
        train = _trainer(self, knowledge)
        super().fit(knowledge)
        self.shadow_ = train(x_pop, target.predict_labels(x_pop), int(knowledge.seed))
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from miaudit.signals import loss, true_class_confidence

        x = np.asarray(x)
        y = _labels_of(self.shadow_, x, y, "audited")
        outputs = self.shadow_.outputs(x, y)
        if self.signal == "loss":
            return -loss(outputs)
        return true_class_confidence(outputs)
