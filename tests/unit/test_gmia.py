"""GMIA (Long et al. 2018): vulnerable-record selection and the OUT-distribution test."""

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_curve

from miaudit.attacks.base import AttackerKnowledge
from miaudit.attacks.gmia import (
    GMIA,
    RADIUS_SAMPLE,
    UNSELECTED_SCORE,
    _out_gaussians,
    averaged_representation,
    centred_log_probs,
    kth_neighbour_distances,
    neighbour_counts,
)
from miaudit.errors import ConfigError, DataError, NotFittedError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.signals import scaled_logit

C, K, N, N_POP = 5, 16, 300, 100
OUTLIERS = np.arange(20)  # planted vulnerable records; the first 10 are members
#: the earlier default: radius at the 10% quantile of pairwise distances, at most 5 neighbours
OLD_DEFAULT = {"radius_from": "pairwise", "radius_quantile": 0.1, "max_neighbours": 5}


def _bulk_logits(y, rng):
    """Typical records: near their class prototype (logit 3 on the label)."""
    z = rng.normal(scale=0.3, size=(len(y), C))
    z[np.arange(len(y)), y] += 3.0
    return z


def scenario(seed=0, n=N, n_pop=N_POP, scale=1.0, k=K):
    """Reference outputs with 20 planted outliers; the 10 that are members show a clear
    signal, the bulk of the members a faint one. ``scale`` multiplies every logit (the
    representation scales with it)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    member = np.zeros(n, bool)
    member[:10] = True
    member[20 + rng.permutation(n - 20)[: n // 2 - 10]] = True
    base = _bulk_logits(y, rng)
    # the outliers: far from every prototype and from each other in logit space
    base[OUTLIERS] = rng.normal(scale=6.0, size=(len(OUTLIERS), C))
    audited_in = np.zeros((n, k), bool)
    for i in range(n):
        audited_in[i, rng.permutation(k)[: k // 2]] = True
    pop_y = rng.integers(0, C, n_pop)
    pop_base = _bulk_logits(pop_y, rng)

    def model_out(logits, yy, is_in, bump):
        z = logits + rng.normal(scale=0.2, size=logits.shape)
        z[np.arange(len(yy)), yy] += np.where(is_in, bump, 0.0)
        return ModelOutputs.from_logits(scale * z, yy)

    # IN effect: strong for the outliers (unique influence), weak for the bulk
    bump = np.where(np.isin(np.arange(n), OUTLIERS), 3.0, 0.1)
    reference = ReferenceOutputs(
        audited=tuple(model_out(base, y, audited_in[:, j], bump) for j in range(k)),
        audited_in=audited_in,
        population=tuple(model_out(pop_base, pop_y, np.zeros(n_pop, bool), 0.0) for _ in range(k)),
        population_in=np.zeros((n_pop, k), bool),
        population_out=np.ones((n_pop, k), bool),
        train_loss=np.full(k, 0.1),
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
    # default: gamma = floor(0.001 * 400) = 0, radius at the 90% quantile of the 1-NN distances
    assert attack.n_reference_ == N + N_POP and attack.max_neighbours_ == 0
    assert attack.n_selected_ == sel.sum() < N // 4
    scores = attack.score_samples(target)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert np.all(scores[~sel] == UNSELECTED_SCORE)
    assert scores[~sel].max() < scores[sel].min()
    on_selected = tpr_at_fpr(member[sel], scores[sel])
    on_all = tpr_at_fpr(member, scores)
    assert on_selected > on_all
    assert on_selected > 0.5
    # the earlier default, still reachable, keeps to the planted outliers here
    old = GMIA(**OLD_DEFAULT).fit(knowledge(reference))
    assert old.selected_[OUTLIERS].all() and old.n_selected_ < attack.n_selected_
    old_scores = old.score_samples(target)
    assert tpr_at_fpr(member[old.selected_], old_scores[old.selected_]) > 0.8


def test_default_selection_is_scale_free_and_follows_data_size():
    """Features x and 100 x select the same records; on a reference set ten times larger the
    default still selects the outliers and about 1 - radius_quantile of the records."""
    small = GMIA().fit(knowledge(scenario()[0]))
    scaled = GMIA().fit(knowledge(scenario(scale=100.0)[0]))
    np.testing.assert_array_equal(small.selected_, scaled.selected_)
    assert scaled.radius_ == pytest.approx(100.0 * small.radius_, rel=1e-9)
    large_n = 10 * N
    large = GMIA().fit(knowledge(scenario(n=large_n, n_pop=10 * N_POP, k=4)[0]))
    assert large.n_reference_ == 10 * (N + N_POP) > RADIUS_SAMPLE  # quantile on a sample
    assert large.max_neighbours_ == 4  # floor(0.001 * 4000)
    for attack, n in ((small, N), (scaled, N), (large, large_n)):
        assert attack.selected_[OUTLIERS].all()
        assert 0.05 * n < attack.n_selected_ < 0.2 * n


def test_selection_is_deterministic():
    reference = scenario(n=2500, n_pop=500, k=4)[0]  # 3,000 reference records: sampled radius
    a = GMIA().fit(knowledge(reference, seed=5))
    b = GMIA().fit(knowledge(reference, seed=5))
    assert a.radius_ == b.radius_
    np.testing.assert_array_equal(a.selected_, b.selected_)
    np.testing.assert_array_equal(a.neighbour_counts_, b.neighbour_counts_)


def test_kth_neighbour_distances_match_slow_loop():
    rng = np.random.default_rng(4)
    points = rng.normal(size=(60, 3))
    points[7] = points[3]  # an exact duplicate is a neighbour at distance 0
    index = np.array([0, 3, 7, 59])
    for k in (1, 2, 5, 59):
        slow = [
            np.sort([np.linalg.norm(points[i] - points[j]) for j in range(60) if j != i])[k - 1]
            for i in index
        ]
        np.testing.assert_allclose(kth_neighbour_distances(points, k, index), slow, atol=1e-7)
    assert kth_neighbour_distances(points, 1, np.array([3, 7])) == pytest.approx([0, 0], abs=1e-6)
    # with gamma = k - 1 and the k-th neighbour distance as radius the record has k neighbours
    d = kth_neighbour_distances(points, 5, np.arange(60))
    counts = [neighbour_counts(points[i : i + 1], points, d[i])[0] - 1 for i in range(60)]
    assert min(counts) >= 5


def test_out_gaussians_match_slow_loop():
    reference, _, _ = scenario(3)
    is_out = ~reference.audited_in
    is_out[0] = False  # no OUT model: the global OUT mean and spread
    is_out[1] = False
    is_out[1, 2] = True  # one OUT model: its value, the global spread
    mu, std = _out_gaussians(reference, is_out)
    phi = np.stack([scaled_logit(m) for m in reference.audited], axis=1)
    g_mu, g_std = phi[is_out].mean(), phi[is_out].std()
    for i in range(N):
        out = phi[i, is_out[i]]
        exp_mu = out.mean() if len(out) else g_mu
        exp_std = max(out.std(), 1e-6) if len(out) >= 2 else g_std
        assert mu[i] == pytest.approx(exp_mu, rel=1e-12, abs=1e-12)
        assert std[i] == pytest.approx(exp_std, rel=1e-12)


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
    with pytest.raises(ConfigError, match="neighbour_fraction"):
        GMIA(neighbour_fraction=1.0).fit(knowledge(reference))
    with pytest.raises(ConfigError, match="radius_from"):
        GMIA(radius_from="cosine").fit(knowledge(reference))
    with pytest.raises(DataError, match="not the records"):
        GMIA().fit(knowledge(reference)).score_samples(target.subset(np.arange(10)))
    assert GMIA(num_models=4).reference_request().num_models == 4
