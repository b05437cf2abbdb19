"""Shokri et al. 2017, "Membership Inference Attacks against Machine Learning Models"
(IEEE S&P): the shadow-model attack, with one attack model per class (sec. V).

Also home of :func:`shadow_attack_data`, the shadow in/out rows every shadow-model attack
(ML-Leaks, the calibrated attacks of Song & Mittal, the privacy risk score, transfer loss)
trains on.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from miaudit.attacks.base import (
    DATA_SOURCES,
    Attack,
    AttackerKnowledge,
    Needs,
    Reads,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs, concat_outputs
from miaudit.validation import Interval, Options

SHOKRI = "Shokri et al. 2017, Membership Inference Attacks against ML Models (S&P)"

ATTACK_MODELS = ("mlp", "logistic", "gradient_boosting", "random_forest")


def shadow_attack_data(
    reference: ReferenceOutputs, attack: str, *, num_classes: int | None = None
) -> tuple[ModelOutputs, np.ndarray]:
    """The attack training set of a shadow-model attack (Shokri et al. 2017, sec. V-B).

    For each shadow model j, its outputs on its own training records (``population_in[:,
    j]``, label 1 = "in") and on its designated non-members (``population_out[:, j]``,
    label 0 = "out"), pooled over the shadows in model order, in before out.

    Args:
        reference: the shadow models' outputs.
        attack: the attack's name, for error messages.
        num_classes: when given, every shadow's outputs must have this many classes
            (shadows trained on the target's task).

    Returns:
        (pooled outputs, bool membership labels), both with one row per (record, shadow).
    """
    if not reference.population:
        raise DataError(
            f"{attack}: the reference models have no outputs on the attacker's records; "
            "this attack needs shadow models (ReferenceRequest(kind='shadow'))"
        )
    parts: list[ModelOutputs] = []
    labels: list[np.ndarray] = []
    for j, out in enumerate(reference.population):
        if num_classes is not None and out.num_classes != num_classes:
            raise DataError(
                f"{attack}: shadow model {j} has {out.num_classes} classes but the target has "
                f"{num_classes}; shadows must be trained on the target's task"
            )
        for mask, member in (
            (reference.population_in[:, j], True),
            (reference.population_out[:, j], False),
        ):
            index = np.flatnonzero(mask)
            parts.append(out.subset(index))
            labels.append(np.full(index.size, member))
    membership = np.concatenate(labels)
    if not membership.any() or membership.all():
        raise DataError(
            f"{attack}: the shadow models need both training records (in) and designated "
            f"non-members (out); got {int(membership.sum())} in and "
            f"{int((~membership).sum())} out rows"
        )
    return concat_outputs(parts), membership


def make_attack_model(kind: str, seed: int) -> Any:
    """A fresh scikit-learn binary classifier for the attack models.

    ``"mlp"``: one hidden layer of 64 tanh units, Adam (learning rate 0.01, L2 1e-6, batches
    of 100), as the authors' code (github.com/csong27/membership-inference, ``model='nn'``:
    one tanh hidden layer of 50 units, Adam, lr 0.01, L2 1e-6, 50 epochs) within scikit-learn;
    up to 200 epochs with scikit-learn's loss-plateau stop. ``"logistic"``: the authors'
    other option (``model='softmax'``, their command-line default). ``"gradient_boosting"``
    and ``"random_forest"``: the other classifiers the paper mentions as possible attack
    models (sec. V-B, "any state-of-the-art classification tool").
    """
    if kind == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=(64,),
            activation="tanh",
            alpha=1e-6,
            batch_size=100,
            learning_rate_init=0.01,
            max_iter=200,
            random_state=seed,
        )
    if kind == "logistic":
        return LogisticRegression(max_iter=1000)
    if kind == "gradient_boosting":
        return HistGradientBoostingClassifier(random_state=seed)
    if kind == "random_forest":
        return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    raise ConfigError(
        f"unknown attack_model {kind!r}; valid attack models: {', '.join(ATTACK_MODELS)}"
    )


def fit_binary(model: Any, features: np.ndarray, member: np.ndarray) -> Any:
    """Fit ``model`` on (features, member) and return it.

    A fixed epoch budget is part of the papers' procedure (the authors' code trains for a
    fixed number of epochs), so scikit-learn's ConvergenceWarning is silenced here only.
    """
    if isinstance(model, MLPClassifier) and isinstance(model.batch_size, int):
        model.set_params(batch_size=min(model.batch_size, len(features)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, member.astype(np.int64))
    return model


def member_probability(model: Any, features: np.ndarray) -> np.ndarray:
    """The attack model's P(member) for each row."""
    if features.shape[0] == 0:
        return np.empty(0)
    proba = model.predict_proba(features)
    return proba[:, list(model.classes_).index(1)].astype(np.float64)


@register_attack
class ShokriAttack(Attack):
    """Shadow-model attack (Shokri et al. 2017, sec. V).

    k shadow models imitate the target (same architecture and training procedure), each on
    its own records with a disjoint out set of the same size. For every class c an attack
    model is trained on the shadows' probability vectors f_shadow(x) of records of class c,
    labelled in (1) / out (0) (sec. V-B, Fig. 3); a record (x, y) is scored by the attack
    model of class y: score = its P(member | f_target(x)). ``threshold_ = 0.5`` (the attack
    model's decision).

    Choices the paper leaves open (documented here):

    * Attack model: scikit-learn classifiers (:func:`make_attack_model`); the default is a
      one-hidden-layer MLP as in the authors' code.
    * Classes lacking data: a class with fewer than ``min_class_rows`` shadow rows of either
      label (in or out) has no attack model of its own; its records are scored by one global
      attack model trained on all the shadow rows (the paper assumes every class is
      represented; fitting a classifier on a handful of rows, or one label, is meaningless).
      The global model sees class-independent features, the true-class probability f(x)_y
      followed by the probability vector sorted in descending order, so that it transfers
      to a class it has few or no rows of (raw vectors would put that class's mass in a
      column the model never saw non-zero).
    * ``sort_probs=True`` sorts each probability vector in descending order first (the
      ML-Leaks feature, Salem et al. 2019); off by default, as in the paper.
    * Data sources (sec. V-C) are produced by the pipeline from ``data_source``
      (:mod:`miaudit.reference.synthesis`); ``noise_fraction`` is the share of features
      re-sampled for ``data_source="noisy"`` (the paper uses 10% and 20%).
    * ``needs_same_distribution_data`` is declared True: the default source is real data;
      the synthesis sources relax it.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``;
            the authors' setup uses 10, the paper up to 100).
        data_source: one of :data:`~miaudit.attacks.base.DATA_SOURCES`.
        attack_model: one of :data:`ATTACK_MODELS`.
        sort_probs: sort probability vectors in descending order before the attack model.
        noise_fraction: share of features re-sampled for the "noisy" data source.
        min_class_rows: fewest in and fewest out rows a class needs for its own model.
    """

    name = "shokri"
    requires = Needs(reference="shadow", reads=Reads(pool=True))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=SHOKRI,
    )

    param_constraints = {
        "num_models": Interval(int, 1),
        "data_source": Options(DATA_SOURCES),
        "attack_model": Options(ATTACK_MODELS),
        "noise_fraction": Interval(float, 0, 1),
        "min_class_rows": Interval(int, 1),
    }

    def __init__(
        self,
        *,
        num_models: int | None = None,
        data_source: str = "population",
        attack_model: str = "mlp",
        sort_probs: bool = False,
        noise_fraction: float = 0.1,
        min_class_rows: int = 10,
    ) -> None:
        self.num_models = num_models
        self.data_source = data_source
        self.attack_model = attack_model
        self.sort_probs = sort_probs
        self.noise_fraction = noise_fraction
        self.min_class_rows = min_class_rows

    def reference_request(self) -> ReferenceRequest:
        self.check_params()
        noise = self.noise_fraction if self.data_source == "noisy" else 0.1
        return ReferenceRequest(
            kind="shadow",
            num_models=self.num_models,
            data_source=self.data_source,
            noise_fraction=noise,
        )

    def _features(self, outputs: ModelOutputs) -> np.ndarray:
        probs = outputs.probs
        return -np.sort(-probs, axis=1) if self.sort_probs else probs.copy()

    @staticmethod
    def _global_features(outputs: ModelOutputs) -> np.ndarray:
        probs = outputs.probs
        true_class = probs[np.arange(outputs.n), outputs.y]
        return np.column_stack([true_class, -np.sort(-probs, axis=1)])

    def fit(self, knowledge: AttackerKnowledge) -> ShokriAttack:
        self.check_params()
        reference = self._reference(knowledge)
        super().fit(knowledge)
        shadow, member = shadow_attack_data(reference, self.name, num_classes=knowledge.num_classes)
        features = self._features(shadow)
        models: list[Any | None] = []
        for c in range(knowledge.num_classes):
            rows = shadow.y == c
            n_in = int(np.sum(member[rows]))
            n_out = int(np.sum(~member[rows]))
            if min(n_in, n_out) < int(self.min_class_rows):
                models.append(None)
                continue
            model = make_attack_model(self.attack_model, knowledge.seed)
            models.append(fit_binary(model, features[rows], member[rows]))
        self.class_models_ = models
        self.fallback_classes_ = [c for c, m in enumerate(models) if m is None]
        self.global_model_ = None
        if self.fallback_classes_:
            model = make_attack_model(self.attack_model, knowledge.seed)
            self.global_model_ = fit_binary(model, self._global_features(shadow), member)
        self.threshold_ = 0.5
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        features = self._features(outputs)
        scores = np.empty(outputs.n)
        for c in np.unique(outputs.y):
            rows = outputs.y == c
            model = self.class_models_[c]
            if model is None:
                global_features = self._global_features(outputs.subset(np.flatnonzero(rows)))
                scores[rows] = member_probability(self.global_model_, global_features)
            else:
                scores[rows] = member_probability(model, features[rows])
        return scores
