"""Shokri et al. 2017 shadow-model attack; shared builders of synthetic shadow outputs."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from miaudit.attacks.base import DATA_SOURCES, AttackerKnowledge
from miaudit.attacks.shokri import ATTACK_MODELS, ShokriAttack, shadow_attack_data
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs

C = 4


def confident_logits(y, member, rng, c, strength=6.0):
    """Members: confident and correct. Non-members: diffuse."""
    n = y.shape[0]
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y] += np.where(member, strength, 0.5)
    return logits


def make_reference(n=300, k=3, c=C, seed=0, y=None, foreign=None, train_loss=None):
    """k shadows on n population records; shadow j: n//3 in rows, n//3 disjoint out rows."""
    rng = np.random.default_rng(seed)
    if y is None:
        y = rng.integers(0, c, n)
    n = y.shape[0]
    pin = np.zeros((n, k), bool)
    pout = np.zeros((n, k), bool)
    outs = []
    for j in range(k):
        p = rng.permutation(n)
        pin[p[: n // 3], j] = True
        pout[p[n // 3 : 2 * (n // 3)], j] = True
        outs.append(ModelOutputs.from_logits(confident_logits(y, pin[:, j], rng, c), y))
    return ReferenceOutputs(
        audited=(),
        audited_in=np.zeros((0, 0), bool),
        population=tuple(outs),
        population_in=pin,
        population_out=pout,
        train_loss=np.full(k, 0.05) if train_loss is None else np.asarray(train_loss),
        foreign=foreign,
    )


def make_target(n=200, c=C, seed=7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    member = np.arange(n) < n // 2
    return ModelOutputs.from_logits(confident_logits(y, member, rng, c), y), member


def knowledge(reference=None, c=C, seed=0):
    return AttackerKnowledge(num_classes=c, reference=reference, seed=seed)


def test_shadow_attack_data_pools_in_and_out_rows_per_shadow():
    ref = make_reference(n=30, k=2)
    pooled, member = shadow_attack_data(ref, "t")
    assert pooled.n == member.size == 2 * 2 * 10
    # shadow 0's in rows first, then its out rows, then shadow 1's
    np.testing.assert_array_equal(
        pooled.probs[:10], ref.population[0].probs[ref.population_in[:, 0]]
    )
    np.testing.assert_array_equal(
        pooled.probs[30:40], ref.population[1].probs[ref.population_out[:, 1]]
    )
    np.testing.assert_array_equal(member, np.tile(np.repeat([True, False], 10), 2))


@pytest.mark.parametrize("model", ATTACK_MODELS)
def test_shokri_scores_members_higher(model):
    out, member = make_target()
    attack = ShokriAttack(attack_model=model)
    assert attack.fit(knowledge(make_reference())) is attack
    scores = attack.score_samples(out)
    assert scores.shape == (out.n,) and scores.dtype == np.float64
    assert np.all((scores >= 0) & (scores <= 1))
    assert roc_auc_score(member, scores) > 0.95
    assert attack.threshold_ == 0.5
    assert attack.fallback_classes_ == [] and attack.global_model_ is None


def test_shokri_one_attack_model_per_class():
    attack = ShokriAttack(attack_model="logistic").fit(knowledge(make_reference()))
    assert len(attack.class_models_) == C
    # class c's model is trained on class c's rows only: refit by hand and compare
    ref = make_reference()
    pooled, member = shadow_attack_data(ref, "t")
    from sklearn.linear_model import LogisticRegression

    rows = pooled.y == 2
    manual = LogisticRegression(max_iter=1000).fit(pooled.probs[rows], member[rows].astype(int))
    out, _ = make_target()
    sel = out.y == 2
    np.testing.assert_allclose(
        attack.score_samples(out)[sel], manual.predict_proba(out.probs[sel])[:, 1]
    )


def test_class_lacking_rows_falls_back_to_global_model():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)  # class 3 never appears in the shadow data
    ref = make_reference(y=y)
    attack = ShokriAttack(attack_model="logistic").fit(knowledge(ref))
    assert attack.fallback_classes_ == [3]
    assert attack.class_models_[3] is None and attack.global_model_ is not None
    out, member = make_target()
    scores = attack.score_samples(out)
    assert np.all(np.isfinite(scores))
    sel = out.y == 3
    p = out.probs[sel]
    global_features = np.column_stack([p[:, 3], -np.sort(-p, axis=1)])
    np.testing.assert_allclose(
        scores[sel], attack.global_model_.predict_proba(global_features)[:, 1]
    )
    assert roc_auc_score(member[sel], scores[sel]) > 0.9


def test_sort_probs_changes_features_and_still_works():
    out, member = make_target()
    scores = (
        ShokriAttack(sort_probs=True, attack_model="logistic")
        .fit(knowledge(make_reference()))
        .score_samples(out)
    )
    assert roc_auc_score(member, scores) > 0.95


def test_reference_request_passes_data_source_and_num_models():
    for source in DATA_SOURCES:
        req = ShokriAttack(num_models=7, data_source=source).reference_request()
        assert (req.kind, req.num_models, req.data_source) == ("shadow", 7, source)


def test_deterministic_given_seed():
    out, _ = make_target()
    s1 = ShokriAttack().fit(knowledge(make_reference(), seed=4)).score_samples(out)
    s2 = ShokriAttack().fit(knowledge(make_reference(), seed=4)).score_samples(out)
    np.testing.assert_array_equal(s1, s2)


def test_clear_errors():
    with pytest.raises(DataError, match="needs reference/shadow models"):
        ShokriAttack().fit(knowledge(None))
    with pytest.raises(ConfigError, match="attack_model must be one of 'mlp', 'logistic'"):
        ShokriAttack(attack_model="svm").fit(knowledge(make_reference()))
    with pytest.raises(ConfigError, match="data_source must be one of 'population', 'noisy'"):
        ShokriAttack(data_source="web").reference_request()
    with pytest.raises(ConfigError, match="noise_fraction"):
        ShokriAttack(noise_fraction=1.5).reference_request()
    with pytest.raises(DataError, match="3 classes but the target has 4"):
        ShokriAttack().fit(knowledge(make_reference(c=3)))


def test_constructor_only_stores_parameters():
    attack = ShokriAttack(attack_model="nonsense")
    assert attack.get_params()["attack_model"] == "nonsense"
