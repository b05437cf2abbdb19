"""Pyrgelis, Troncoso & De Cristofaro 2018, "Knock Knock, Who's There? Membership Inference on
Aggregate Location Data" (NDSS).

The paper frames membership inference on aggregates as a distinguishability game and learns
the distinguisher (membership inference as a classification task): the adversary, with
prior knowledge of records from the population, simulates many groups with and without the
target, aggregates them the same way the data holder does (including the same DP noise, in
the paper's evaluation of DP defenses), and trains a classifier (the paper compares logistic
regression, k-NN, random forests and MLPs) on features of the aggregates to predict whether
the target was in.

Departure from the paper, and why: the paper trains one classifier per target user on the
aggregate alone. Here one classifier serves every target, so the record must enter its
features: per feature j, with the released value m_j and the reference frequency p_j,

    phi(y, m) = [ y_j (m_j - p_j),  (1 - y_j)(m_j - p_j) ]_{j=1..d}     (2d features)

(zero for withheld features), standardised, into scikit-learn's LogisticRegression (default)
or an MLPClassifier. For binary y, Homer's D(y) = sum_j (2 y_j - 1)(m_j - p_j) is one linear
function of phi, so the logistic model can learn Homer's test with a weight per feature. The
per-target attack of the paper is the special case of one target record repeated.
Scores are the classifier's decision function (log-odds), higher = member.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from miaudit.aggregate._base import AggregateAttack
from miaudit.aggregate._checks import check_count, check_positive, check_unit_matrix
from miaudit.aggregate._simulate import draw_cohorts
from miaudit.aggregate.release import EXACT, ReleaseMechanism
from miaudit.errors import ConfigError

PYRGELIS = (
    "Pyrgelis et al. 2018, Knock Knock, Who's There? Membership Inference on Aggregate "
    "Location Data (NDSS)"
)
Classifier = Literal["logistic", "mlp"]


def pyrgelis_features(
    records: np.ndarray,
    population_means: np.ndarray,
    mixture_means: np.ndarray,
    withheld: np.ndarray | None = None,
) -> np.ndarray:
    """phi(y, m) = [y (m - p), (1 - y)(m - p)], shape (k, 2d); withheld features are 0."""
    diff = np.broadcast_to(mixture_means - population_means, records.shape)
    if withheld is not None:
        diff = np.where(np.broadcast_to(withheld, records.shape), 0.0, diff)
    return np.concatenate([records * diff, (1 - records) * diff], axis=1)


class PyrgelisAttack(AggregateAttack):
    """The classifier attack of Pyrgelis et al. 2018 (see the module docstring).

    ``fit(reference_x)`` simulates ``n_cohorts`` cohorts of ``cohort_size`` reference records,
    releases them with ``mechanism`` (the target's noise and suppression: the attacker knows
    the mechanism, as in the paper's evaluation of DP defenses), takes ``targets_per_cohort``
    members and as many non-members of each, and trains the classifier. Threat model: the
    record, reference records of the same population, the cohort size and the release
    mechanism.
    """

    paper = PYRGELIS

    def __init__(
        self,
        *,
        cohort_size: int,
        mechanism: ReleaseMechanism = EXACT,
        n_cohorts: int = 400,
        targets_per_cohort: int = 4,
        classifier: Classifier = "logistic",
        regularization: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.cohort_size = cohort_size
        self.mechanism = mechanism
        self.n_cohorts = n_cohorts
        self.targets_per_cohort = targets_per_cohort
        self.classifier = classifier
        self.regularization = regularization
        self.seed = seed

    def _make_classifier(self) -> Pipeline:
        c = check_positive(self.regularization, "regularization")
        if self.classifier == "logistic":
            model = LogisticRegression(C=c, max_iter=2000)
        elif self.classifier == "mlp":
            model = MLPClassifier(
                hidden_layer_sizes=(64,),
                alpha=1.0 / c,
                max_iter=300,
                early_stopping=True,
                random_state=self.seed,
            )
        else:
            raise ConfigError(f"classifier must be 'logistic' or 'mlp', got {self.classifier!r}")
        return make_pipeline(StandardScaler(), model)

    def fit(self, reference_x: ArrayLike) -> PyrgelisAttack:
        ref = check_unit_matrix(reference_x, "reference_x")
        n = check_count(self.cohort_size, "cohort_size")
        classifier = self._make_classifier()
        draws = draw_cohorts(
            ref,
            cohort_size=n,
            n_cohorts=check_count(self.n_cohorts, "n_cohorts"),
            targets_per_cohort=check_count(self.targets_per_cohort, "targets_per_cohort"),
            mechanism=self.mechanism,
            rng=np.random.default_rng([self.seed, 1]),
        )
        super().fit(ref)
        feats = pyrgelis_features(
            draws.records, self.population_means_, draws.releases, draws.withheld
        )
        self.classifier_ = classifier.fit(feats, draws.membership)
        return self

    def score_samples(
        self,
        records: ArrayLike,
        mixture_means: ArrayLike,
        withheld: ArrayLike | None = None,
    ) -> np.ndarray:
        y, mix, mask = self._inputs(records, mixture_means, withheld)
        feats = pyrgelis_features(y, self.population_means_, mix, mask)
        scaler, model = self.classifier_[0], self.classifier_[-1]
        if isinstance(model, MLPClassifier):
            return _mlp_logit(model, scaler.transform(feats))
        return np.asarray(self.classifier_.decision_function(feats), dtype=np.float64)


def _mlp_logit(model: MLPClassifier, x: np.ndarray) -> np.ndarray:
    """The binary MLP's output pre-activation (the log-odds of class 1), computed from its
    weights: ``predict_proba`` saturates at exactly 0 or 1, which would tie the top scores."""
    h = x
    for i, (w, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        h = h @ w + b
        if i < len(model.coefs_) - 1:
            h = np.maximum(h, 0.0)  # relu, MLPClassifier's default activation
    return np.asarray(h[:, 0], dtype=np.float64)


class PyrgelisPerTargetAttack(AggregateAttack):
    """The paper's own setting: one classifier per target record, on the aggregate alone.

    For each scored row (record y, release m) the attacker simulates ``n_cohorts`` cohorts of
    ``cohort_size``: ``cohort_size - 1`` reference records (drawn without replacement, the
    target's exact copies excluded) plus the target for half of them (label 1) or one more
    reference record for the other half (label 0); releases them with ``mechanism``; trains
    a logistic regression on the features m - p (withheld features 0); and scores the observed
    release with its decision function. One fit per scored row: slow (about 0.05 s per row
    at 100 cohorts x 446 features), so :class:`PyrgelisAttack` is the default.
    """

    paper = PYRGELIS

    def __init__(
        self,
        *,
        cohort_size: int,
        mechanism: ReleaseMechanism = EXACT,
        n_cohorts: int = 100,
        regularization: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.cohort_size = cohort_size
        self.mechanism = mechanism
        self.n_cohorts = n_cohorts
        self.regularization = regularization
        self.seed = seed

    def fit(self, reference_x: ArrayLike) -> PyrgelisPerTargetAttack:
        ref = check_unit_matrix(reference_x, "reference_x")
        n = check_count(self.cohort_size, "cohort_size", minimum=2)
        check_count(self.n_cohorts, "n_cohorts", minimum=2)
        check_positive(self.regularization, "regularization")
        if n + 1 > ref.shape[0]:
            raise ConfigError(
                f"cohort_size {n} needs at least {n + 1} reference records, got {ref.shape[0]}"
            )
        self.mechanism_ = self.mechanism.checked()
        self.reference_ = ref
        super().fit(ref)
        return self

    def score_samples(
        self,
        records: ArrayLike,
        mixture_means: ArrayLike,
        withheld: ArrayLike | None = None,
    ) -> np.ndarray:
        y, mix, mask = self._inputs(records, mixture_means, withheld)
        mix = np.broadcast_to(mix, y.shape)
        mask = None if mask is None else np.broadcast_to(mask, y.shape)
        rng = np.random.default_rng([self.seed, 3])
        ref, p, n = self.reference_, self.population_means_, int(self.cohort_size)
        half = int(self.n_cohorts) // 2
        labels = np.r_[np.ones(half, bool), np.zeros(int(self.n_cohorts) - half, bool)]
        scores = np.empty(y.shape[0])
        for i in range(y.shape[0]):
            others = ref[np.any(ref != y[i], axis=1)]
            sums = np.empty((labels.size, ref.shape[1]))
            for c in range(labels.size):
                idx = rng.choice(others.shape[0], size=n, replace=False)
                base = others[idx[: n - 1]].sum(axis=0)
                sums[c] = base + (y[i] if labels[c] else others[idx[n - 1]])
            released, held = self.mechanism_.release_exact(sums / n, n, rng)
            feats = np.where(held, 0.0, released - p)
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=float(self.regularization), max_iter=2000)
            ).fit(feats, labels)
            observed = mix[i] - p
            if mask is not None:
                observed = np.where(mask[i], 0.0, observed)
            scores[i] = model.decision_function(observed[None, :])[0]
        return scores
