"""GMIA (Long et al. 2018): vulnerable-record selection and the OUT-distribution test."""

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_curve

from miaudit.attacks.base import AttackerKnowledge
from miaudit.attacks.gmia import (
    GMIA,
    UNSELECTED_SCORE,
    averaged_representation,
    centred_log_probs,
    neighbour_counts,
)
from miaudit.errors import ConfigError, DataError, NotFittedError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.signals import scaled_logit

C, K, N, N_POP = 5, 16, 300, 100
OUTLIERS = np.arange(20)  # planted vulnerable records; the first 10 are members


def _bulk_logits(y, rng):
    """Typical records: near their class prototype (logit 3 on the label)."""
    z = rng.normal(scale=0.3, size=(len(y), C))
    z[np.arange(len(y)), y] += 3.0
    return z


def scenario(seed=0):
    """Reference outputs with 20 planted outliers; the 10 that are members show a clear
    signal, the bulk of the members a faint one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    member = np.zeros(N, bool)
    member[:10] = True
    member[20 + rng.permutation(N - 20)[: N // 2 - 10]] = True
    base = _bulk_logits(y, rng)
    # the outliers: far from every prototype and from each other in logit space
    base[OUTLIERS] = rng.normal(scale=6.0, size=(len(OUTLIERS), C))
    audited_in = np.zeros((N, K), bool)
    for i in range(N):
        audited_in[i, rng.permutation(K)[: K // 2]] = True
    pop_y = rng.integers(0, C, N_POP)
    pop_base = _bulk_logits(pop_y, rng)

    def model_out(logits, yy, is_in, bump):
        z = logits + rng.normal(scale=0.2, size=logits.shape)
        z[np.arange(len(yy)), yy] += np.where(is_in, bump, 0.0)
        return ModelOutputs.from_logits(z, yy)

    # IN effect: strong for the outliers (unique influence), weak for the bulk
    bump = np.where(np.isin(np.arange(N), OUTLIERS), 3.0, 0.1)
    reference = ReferenceOutputs(
        audited=tuple(model_out(base, y, audited_in[:, j], bump) for j in range(K)),
        audited_in=audited_in,
        population=tuple(model_out(pop_base, pop_y, np.zeros(N_POP, bool), 0.0) for _ in range(K)),
        population_in=np.zeros((N_POP, K), bool),
        population_out=np.ones((N_POP, K), bool),
        train_loss=np.full(K, 0.1),
    )
    target = model_out(base, y, member, bump)
    return reference, target, member


def knowledge(reference, seed=0):
    return AttackerKnowledge(num_classes=C, seed=seed, reference=reference)


def tpr_at_fpr(member, scores, fpr=0.05):
    f, t, _ = roc_curve(member, scores)
    return float(t[f <= fpr].max())


def test_selects_outliers_and_is_stronger_on_them():
    reference, target, member = scenario()
    attack = GMIA(num_models=K)
    assert attack.fit(knowledge(reference)) is attack
    sel = attack.selected_
    assert sel[OUTLIERS].all()
    assert attack.n_selected_ == sel.sum() < N // 4
    scores = attack.score_samples(target)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert np.all(scores[~sel] == UNSELECTED_SCORE)
    assert scores[~sel].max() < scores[sel].min()
    on_selected = tpr_at_fpr(member[sel], scores[sel])
    on_all = tpr_at_fpr(member, scores)
    assert on_selected > on_all
    assert on_selected > 0.8


def test_score_is_normal_cdf_of_out_z():
    reference, target, member = scenario(1)
    attack = GMIA(radius=1e9, max_neighbours=10**6).fit(knowledge(reference))
    assert attack.selected_.all()
    phi = np.stack([scaled_logit(m) for m in reference.audited], axis=1)
    i = 7
    out = phi[i, ~reference.audited_in[i]]
    np.testing.assert_allclose(
        attack.score_samples(target)[i], ndtr((scaled_logit(target)[i] - out.mean()) / out.std())
    )


def test_neighbour_counts_match_slow_loop():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(37, 4))
    reference = np.concatenate([points, rng.normal(size=(50, 4))])
    radius = 1.7
    slow = np.array(
        [sum(np.sqrt(((p - r) ** 2).sum()) <= radius for r in reference) for p in points]
    )
    np.testing.assert_array_equal(neighbour_counts(points, reference, radius), slow)
    assert np.all(slow >= 1)  # each point is its own neighbour in this reference set


def test_fitted_counts_match_slow_loop():
    reference, _, _ = scenario(2)
    attack = GMIA(radius=1.5).fit(knowledge(reference))
    rep, _ = averaged_representation(reference.audited, ~reference.audited_in)
    prep, _ = averaged_representation(reference.population, reference.population_out)
    pool = np.concatenate([rep, prep])
    slow = [
        sum(np.linalg.norm(rep[i] - pool[j]) <= 1.5 for j in range(len(pool)) if j != i)
        for i in range(N)
    ]
    np.testing.assert_array_equal(attack.neighbour_counts_, slow)
    # the representation is the mean centred log-probability over OUT models only
    j_out = np.nonzero(~reference.audited_in[0])[0]
    expected = np.mean([centred_log_probs(reference.audited[j])[0] for j in j_out], axis=0)
    np.testing.assert_allclose(rep[0], expected)


def test_deterministic_and_errors():
    reference, target, _ = scenario()
    s1 = GMIA().fit(knowledge(reference)).score_samples(target)
    s2 = GMIA().fit(knowledge(reference)).score_samples(target)
    np.testing.assert_array_equal(s1, s2)
    with pytest.raises(NotFittedError):
        GMIA().score_samples(target)
    with pytest.raises(DataError, match="reference"):
        GMIA().fit(AttackerKnowledge(num_classes=C))
    with pytest.raises(ConfigError, match="radius_quantile"):
        GMIA(radius_quantile=1.5).fit(knowledge(reference))
    with pytest.raises(ConfigError, match="max_neighbours"):
        GMIA(max_neighbours=-1).fit(knowledge(reference))
    with pytest.raises(DataError, match="not the records"):
        GMIA().fit(knowledge(reference)).score_samples(target.subset(np.arange(10)))
    assert GMIA(num_models=4).reference_request().num_models == 4
