"""User-level audit of text-generation models (Song & Shmatikov 2019, "Auditing Data
Provenance in Text-Generation Models", KDD; issue 13).

Did the model train on *this user's* texts? For each of a user's texts, the rank of every
true token in the model's next-token distribution (:mod:`miaudit.text.ranks`); the user's
feature vector is the histogram of those ranks over all their (chosen) texts, normalised to
sum to 1, in the bins of :data:`RANK_EDGES` (lower edges, doubling; the last bin is open):

    rank 1 | 2 | 3-4 | 5-8 | 9-16 | 17-32 | 33-64 | 65+

(the first bin is the model's next-token accuracy on the user's texts; a member's tokens
sit in the low-rank bins more often). Shadow LMs of the target's recipe are trained through
the reference engine (:func:`miaudit.reference.train_references`), each on the texts of a
seeded random subset of the attacker's shadow users; every shadow user is then one labelled
example per shadow model (in / out). The audit classifier (scikit-learn; logistic
regression by default, a linear SVM with ``classifier="linear_svm"``, both on standardised
features with balanced class weights) is trained on those and scores the target's users:
score = its decision function (float64, higher = the user's texts were used).

Per-user p-values (not in the paper, which thresholds the classifier): H0 for an audited
user is "none of this user's texts was in the target's training". The user's score is
compared with null scores, empirical p = (1 + #{null >= s}) / (1 + n_null)
(:func:`empirical_p_values`), from one of two nulls:

* ``reference_users`` (the valid one): users known not to be in the target's training,
  disjoint from the audited and the shadow users, scored exactly as the audited users
  (the target's rank histograms of as many texts, the same classifier). Under H0 an audited
  user and the reference users are exchangeable (same distribution, none in the target,
  none seen by the classifier), so P(p <= alpha) <= alpha for every alpha.
* ``shadow_out`` (when no reference users are given): the (shadow user, shadow LM) pairs in
  the out role, scored by a classifier cross-fitted without that shadow user (5 folds by
  user). Approximate: it assumes a shadow LM treats its out users as the target treats its
  non-members (same recipe, same amount of training data); it fails when they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.metrics import evaluate_scores
from miaudit.owner._empirical import empirical_p_values
from miaudit.reference import ReferencePlan, train_references
from miaudit.reference._plan import model_seeds
from miaudit.reference._threads import torch_threads
from miaudit.text.lm import LMRecipe, TorchLM, pack
from miaudit.text.ranks import (
    RANK_EDGES,
    RankLMRecipe,
    _check_edges,
    decode_ranks,
    lm_ranks,
    user_histograms,
    user_records,
)
from miaudit.text.records import TextRecords
from miaudit.validation import check_number

CLASSIFIERS = ("logistic", "linear_svm")
NULLS = ("reference_users", "shadow_out")
#: folds (by shadow user) of the cross-fitted shadow-out null
NULL_FOLDS = 5


@dataclass(frozen=True)
class UserAuditResult:
    """The audit of the target's users.

    Attributes:
        users: the audited users.
        scores: float64 (n,), the classifier's decision function (higher = member).
        predicted: bool (n,), the classifier's decision (score > 0).
        membership: bool (n,), the truth when it was given, else None.
        metrics: :func:`miaudit.metrics.evaluate_scores` when the truth was given.
        features: float64 (n, n_bins), the users' rank histograms under the target.
        classifier: "logistic" or "linear_svm".
        texts_per_user: the most texts per user the histograms used (None: all).
        shadow_accuracy: the classifier's accuracy on its own shadow training examples.
        p_values: float64 (n,), each user's empirical p-value against ``null_scores``.
        alpha: the level of ``reject``.
        reject: bool (n,), p_values <= alpha: the user's texts were used, at level alpha.
        null: "reference_users" or "shadow_out" (module docstring).
        null_scores: float64, the scores the p-values compare against.
        reference_users: the users of the reference_users null (empty for shadow_out).
    """

    users: tuple[str, ...]
    scores: np.ndarray
    predicted: np.ndarray
    membership: np.ndarray | None
    metrics: Any
    features: np.ndarray
    classifier: str
    texts_per_user: int | None
    shadow_accuracy: float
    p_values: np.ndarray
    alpha: float
    reject: np.ndarray
    null: str
    null_scores: np.ndarray
    reference_users: tuple[str, ...] = ()


def _classifier(name: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "logistic":
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    elif name == "linear_svm":
        model = LinearSVC(C=1.0, class_weight="balanced", random_state=seed, max_iter=20000)
    else:
        raise ConfigError(f"unknown classifier {name!r}; choose one of {', '.join(CLASSIFIERS)}")
    return make_pipeline(StandardScaler(), model)


def _distinct_users(users: Sequence[str], what: str) -> tuple[str, ...]:
    out = tuple(str(u) for u in users)
    if not out:
        raise ConfigError(f"{what}: no users given")
    if len(set(out)) != len(out):
        raise ConfigError(f"{what} lists a user twice")
    return out


class UserLevelAudit:
    """Shadow LMs and the audit classifier of the user-level audit (module docstring).

    Args:
        recipe: the target's :class:`LMRecipe` (shadow LMs use it with the rank answers).
        num_shadow: shadow LMs.
        shadow_members: shadow users each shadow LM trains on (default: half of them; as
            many as the target's member users mimics the target best).
        edges: rank bins' lower edges.
        classifier: "logistic" or "linear_svm".
        seed: the shadow plan's, shadow models' and text choice's seed.
        executor, workers, cache_dir, threads, progress: as
            :func:`miaudit.reference.train_references`.
    """

    def __init__(
        self,
        recipe: LMRecipe,
        *,
        num_shadow: int = 4,
        shadow_members: int | None = None,
        edges: Sequence[int] = RANK_EDGES,
        classifier: str = "logistic",
        seed: int = 0,
        executor: str = "serial",
        workers: int | None = None,
        cache_dir: str | Path | None = None,
        threads: int = 1,
        progress: bool = False,
    ) -> None:
        if not isinstance(recipe, LMRecipe):
            raise ConfigError("the user-level audit needs miaudit's LMRecipe for its shadow LMs")
        if classifier not in CLASSIFIERS:
            raise ConfigError(
                f"unknown classifier {classifier!r}; choose one of {', '.join(CLASSIFIERS)}"
            )
        if isinstance(num_shadow, bool) or not isinstance(num_shadow, int) or num_shadow < 1:
            raise ConfigError(f"num_shadow must be a positive integer, got {num_shadow!r}")
        self.recipe = RankLMRecipe(
            recipe.spec, recipe.tokenizer_json, recipe.long_records, recipe.num_classes
        )
        self.num_shadow = num_shadow
        self.shadow_members = shadow_members
        self.edges = tuple(int(e) for e in _check_edges(edges))
        self.classifier = classifier
        self.seed = int(seed)
        self.engine = {
            "executor": executor,
            "workers": workers,
            "cache_dir": cache_dir,
            "threads_per_model": int(threads),
            "progress": progress,
        }
        self.threads = int(threads)

    def fit(self, records: TextRecords, shadow_users: Sequence[str]) -> UserLevelAudit:
        """Train the shadow LMs on the shadow users' texts and keep their token ranks."""
        users = _distinct_users(shadow_users, "shadow_users")
        if len(users) < 2:
            raise ConfigError("the user-level audit needs at least 2 shadow users")
        groups = user_records(records, users, seed=self.seed)
        n_in = len(users) // 2 if self.shadow_members is None else int(self.shadow_members)
        if not 1 <= n_in < len(users):
            raise ConfigError(
                f"shadow_members must be between 1 and {len(users) - 1} (the shadow users "
                f"less one), got {self.shadow_members!r}"
            )
        pool = np.concatenate(groups)
        owner = np.concatenate([np.full(g.size, j) for j, g in enumerate(groups)])
        tok = self.recipe.tokenizer()
        x_pool = pack([tok.encode(records.texts[i]) for i in pool])
        y_pool = np.zeros(pool.size, dtype=np.int64)
        ss = np.random.default_rng(np.random.SeedSequence([self.seed, 0x5A11]))
        user_in = np.zeros((len(users), self.num_shadow), dtype=bool)
        train, out = [], []
        for j in range(self.num_shadow):
            chosen = ss.permutation(len(users))[:n_in]
            user_in[chosen, j] = True
            rows = np.isin(owner, chosen)
            train.append(np.flatnonzero(rows))
            out.append(np.flatnonzero(~rows))
        plan = ReferencePlan(
            n_pool=pool.size,
            train_indices=tuple(train),
            out_indices=tuple(out),
            seeds=model_seeds(np.random.SeedSequence([self.seed, 0x5A12]), self.num_shadow),
            kind="shadow",
        )
        run = train_references(
            plan, x_pool, y_pool, self.recipe, queries={"shadow": (x_pool, y_pool)}, **self.engine
        )
        self.records_ = records
        self.shadow_users_ = users
        starts = np.r_[0, np.cumsum([g.size for g in groups])[:-1]]
        self.shadow_groups_ = [
            np.arange(s, s + g.size) for s, g in zip(starts, groups, strict=True)
        ]
        self.shadow_ranks_ = [decode_ranks(m["shadow"]) for m in run.outputs]
        self.shadow_in_ = user_in
        self.run_ = run
        return self

    def shadow_features(self, texts_per_user: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(features, labels) of every (shadow user, shadow model) pair."""
        if not hasattr(self, "shadow_ranks_"):
            raise ConfigError("call fit(records, shadow_users) before auditing")
        # a user's block of the pool is their records in the seeded order, so the first k
        # are the k texts user_records chooses for the target's users alike
        groups = [g if texts_per_user is None else g[:texts_per_user] for g in self.shadow_groups_]
        feats = [user_histograms(r, groups, self.edges) for r in self.shadow_ranks_]
        x = np.concatenate(feats)
        y = np.concatenate([self.shadow_in_[:, j] for j in range(self.num_shadow)])
        return x, y

    def audit(
        self,
        target: TorchLM,
        users: Sequence[str],
        *,
        membership: Sequence[bool] | None = None,
        texts_per_user: int | None = None,
        bootstrap: int = 200,
        records: TextRecords | None = None,
        reference_users: Sequence[str] | None = None,
        alpha: float = 0.05,
    ) -> UserAuditResult:
        """Score ``users`` (their texts in the fitted records, or ``records``) under
        ``target`` with a classifier trained on the shadow users' histograms built from
        as many texts per user, with a p-value per user against the ``reference_users``
        (known non-members of the target) or, without them, the cross-fitted shadow-out
        null (module docstring)."""
        recs = self.records_ if records is None else records
        users = _distinct_users(users, "users")
        alpha = float(check_number(alpha, "alpha", low=0, high=1, closed="neither"))
        refs: tuple[str, ...] = ()
        if reference_users is not None:
            refs = _distinct_users(reference_users, "reference_users")
            for other, what in (
                (users, "audited"),
                (getattr(self, "shadow_users_", ()), "a shadow user"),
            ):
                both = set(refs) & set(other)
                if both:
                    raise ConfigError(
                        f"user {sorted(both)[0]!r} is both a reference user and {what}"
                    )
        groups = user_records(recs, users + refs, texts_per_user=texts_per_user, seed=self.seed)
        x, y = self.shadow_features(texts_per_user)
        if y.all() or not y.any():
            raise ConfigError("the shadow examples are all in or all out; use more shadow users")
        clf = _classifier(self.classifier, self.seed).fit(x, y)
        shadow_accuracy = float((clf.predict(x) == y).mean())
        overlap = set(users) & set(self.shadow_users_)
        if overlap:
            raise ConfigError(f"user {sorted(overlap)[0]!r} is both audited and a shadow user")
        flat = np.concatenate(groups)
        with torch_threads(self.threads):
            ranks = lm_ranks(target, [recs.texts[i] for i in flat])
        starts = np.r_[0, np.cumsum([g.size for g in groups])[:-1]]
        local = [np.arange(s, s + g.size) for s, g in zip(starts, groups, strict=True)]
        all_feats = user_histograms(ranks, local, self.edges)
        all_scores = np.asarray(clf.decision_function(all_feats), dtype=np.float64)
        feats, scores = all_feats[: len(users)], all_scores[: len(users)]
        if refs:
            null, null_scores = "reference_users", all_scores[len(users) :]
        else:
            null, null_scores = "shadow_out", self._shadow_out_scores(x, y)
        p_values = empirical_p_values(scores, null_scores)
        truth = metrics = None
        if membership is not None:
            truth = np.asarray(membership)
            if truth.dtype != np.bool_ or truth.shape != (len(users),):
                raise DataError(f"membership must be {len(users)} booleans, one per user")
            metrics = evaluate_scores(truth, scores, n_resamples=bootstrap, seed=self.seed)
        return UserAuditResult(
            users=users,
            scores=scores,
            predicted=scores > 0,
            membership=truth,
            metrics=metrics,
            features=feats,
            classifier=self.classifier,
            texts_per_user=texts_per_user,
            shadow_accuracy=shadow_accuracy,
            p_values=p_values,
            alpha=alpha,
            reject=p_values <= alpha,
            null=null,
            null_scores=null_scores,
            reference_users=refs,
        )

    def _shadow_out_scores(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Scores of the out-role (shadow user, shadow LM) pairs, each from a classifier
        fitted without that shadow user's pairs (NULL_FOLDS folds of the shadow users)."""
        n_users = len(self.shadow_users_)
        user = np.tile(np.arange(n_users), self.num_shadow)  # the row order of x
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x9011]))
        fold = rng.permutation(n_users) % min(NULL_FOLDS, n_users)
        out = []
        for f in range(int(fold.max()) + 1):
            test = fold[user] == f
            train_y = y[~test]
            if train_y.all() or not train_y.any():
                raise ConfigError(
                    "the shadow-out null needs in and out examples in every fold; use more "
                    "shadow users or give reference users"
                )
            clf = _classifier(self.classifier, self.seed).fit(x[~test], train_y)
            rows = test & ~y
            if rows.any():
                out.append(np.asarray(clf.decision_function(x[rows]), dtype=np.float64))
        return np.concatenate(out)


def user_level_audit(
    target: TorchLM,
    records: TextRecords,
    *,
    users: Sequence[str],
    shadow_users: Sequence[str],
    recipe: LMRecipe,
    membership: Sequence[bool] | None = None,
    texts_per_user: int | None = None,
    num_shadow: int = 4,
    shadow_members: int | None = None,
    edges: Sequence[int] = RANK_EDGES,
    classifier: str = "logistic",
    seed: int = 0,
    bootstrap: int = 200,
    reference_users: Sequence[str] | None = None,
    alpha: float = 0.05,
    **engine: Any,
) -> UserAuditResult:
    """The user-level audit in one call: :class:`UserLevelAudit` fitted on ``shadow_users``
    then applied to ``target``'s ``users`` (``engine``: executor, workers, cache_dir,
    threads, progress)."""
    audit = UserLevelAudit(
        recipe,
        num_shadow=num_shadow,
        shadow_members=shadow_members,
        edges=edges,
        classifier=classifier,
        seed=seed,
        **engine,
    )
    audit.fit(records, shadow_users)
    return audit.audit(
        target,
        users,
        membership=membership,
        texts_per_user=texts_per_user,
        bootstrap=bootstrap,
        reference_users=reference_users,
        alpha=alpha,
    )
