"""Li & Zhang 2021, "Membership Leakage in Label-Only Exposures" (CCS), sec. 4, the
transfer attack: the attacker labels its population records with the target (label
queries in ``fit``), trains a shadow on them that imitates the target, and scores the
audited records on the shadow.

* ``boundary_transfer``: the shadow's boundary distance, measured white-box on the shadow
  (FGSM line search, PGD minimal perturbation or Carlini-Wagner L2,
  :mod:`miaudit.signals.adversarial`; the white-box distance of Choquette-Choo et al. 2021,
  sec. 4); one target query per record.
* ``label_transfer``: the shadow's loss (or confidence) on the audited records; no target
  query at scoring time.

Both have ``access = "labels"`` (scored through :meth:`Attack.score_records` with a
label-only, query-counted view of the target). Scores follow the package convention:
float64 (n,), higher = more likely a member.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from miaudit.attacks._label_only import (
    CHOQUETTE_CHOO,
    LI_ZHANG,
    LabelOnlyAttack,
    feature_range,
    fit_target,
    labels_of,
    population_records,
    shadow_module,
    shadow_trainer,
)
from miaudit.attacks.base import AttackerKnowledge, Needs, ThreatModel, register_attack
from miaudit.validation import Interval, Options

if TYPE_CHECKING:
    from miaudit.targets import Target


# -- boundary distance on a relabelled shadow (transfer) ------------------------------------
@register_attack
class BoundaryTransfer(LabelOnlyAttack):
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
    requires = Needs(access="labels", population_data=True, recipe=True)
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

    def fit(self, knowledge: AttackerKnowledge) -> BoundaryTransfer:
        self.check_params()
        x_pop, y_pop = population_records(self, knowledge)
        target = fit_target(self, knowledge)
        labels_of(target, x_pop, y_pop, "population")
        train = shadow_trainer(self, knowledge)
        super().fit(knowledge)
        relabelled = target.predict_labels(x_pop)
        self.shadow_module_ = shadow_module(self, train(x_pop, relabelled, int(knowledge.seed)))
        self.clip_box_ = feature_range(x_pop)
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from miaudit.signals.adversarial import cw_l2_distance, fgsm_distance, pgd_distance

        x = np.asarray(x)
        y = labels_of(target, x, y, "audited")
        lo, hi = feature_range(self.clip_box_[0][None], self.clip_box_[1][None], x)
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


# -- label transfer ------------------------------------------------------------------------
@register_attack
class LabelTransfer(LabelOnlyAttack):
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
    requires = Needs(access="labels", population_data=True, recipe=True)
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

    def fit(self, knowledge: AttackerKnowledge) -> LabelTransfer:
        self.check_params()
        x_pop, y_pop = population_records(self, knowledge)
        target = fit_target(self, knowledge)
        labels_of(target, x_pop, y_pop, "population")
        train = shadow_trainer(self, knowledge)
        super().fit(knowledge)
        self.shadow_ = train(x_pop, target.predict_labels(x_pop), int(knowledge.seed))
        return self

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from miaudit.signals import loss, true_class_confidence

        x = np.asarray(x)
        y = labels_of(self.shadow_, x, y, "audited")
        outputs = self.shadow_.outputs(x, y)
        if self.signal == "loss":
            return -loss(outputs)
        return true_class_confidence(outputs)
