"""RMIA (Zarifzadeh et al. 2024): the vectorised score equals the definition computed with
an explicit double loop over x and z; tuning a; separation on synthetic data; errors."""

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.metrics import roc_auc_score

from miaudit.attacks.base import AttackerKnowledge, ReferenceRequest
from miaudit.attacks.rmia import A_GRID, RMIA
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs

C = 3


def make_outputs(logits, y, *, with_logits=True, views=None):
    out = ModelOutputs.from_logits(logits, y)
    if not with_logits:
        out = ModelOutputs(probs=out.probs, y=y)
    if views:
        augmented = tuple(make_outputs(v, y, with_logits=with_logits) for v in views)
        out = ModelOutputs(probs=out.probs, y=y, logits=out.logits, augmented=augmented)
    return out


def make_case(n=40, m=50, k=6, seed=0, *, with_logits=True, n_views=1, member_boost=1.5):
    """Target and k reference models on n audited and m population records (raw arrays)."""
    rng = np.random.default_rng(seed)
    y_x, y_z = rng.integers(0, C, n), rng.integers(0, C, m)
    x_in = rng.random((n, k)) < 0.5
    z_in = rng.random((m, k)) < 0.15  # some population records trained some references
    member = np.arange(n) % 2 == 0
    base_x = rng.normal(0, 1.5, (n, C))
    base_z = rng.normal(0, 1.5, (m, C))

    def logits(base, y, boost, views):
        out = []
        for _ in range(views):
            z = base + rng.normal(0, 0.7, base.shape)
            z[np.arange(len(y)), y] += boost
            out.append(z)
        return out

    target_x = logits(base_x, y_x, member_boost * member, n_views)
    target_z = logits(base_z, y_z, 0.0, n_views)
    ref_x = [logits(base_x, y_x, member_boost * x_in[:, j], n_views) for j in range(k)]
    ref_z = [logits(base_z, y_z, member_boost * z_in[:, j], n_views) for j in range(k)]
    return dict(
        y_x=y_x, y_z=y_z, x_in=x_in, z_in=z_in, member=member, target_x=target_x,
        target_z=target_z, ref_x=ref_x, ref_z=ref_z, with_logits=with_logits,
    )  # fmt: skip


def to_outputs(views_logits, y, with_logits):
    views = views_logits if len(views_logits) > 1 else None
    return make_outputs(views_logits[0], y, with_logits=with_logits, views=views)


def build(case, num_population=None, seed=0):
    wl = case["with_logits"]
    k = len(case["ref_x"])
    reference = ReferenceOutputs(
        audited=tuple(to_outputs(r, case["y_x"], wl) for r in case["ref_x"]),
        audited_in=case["x_in"],
        population=tuple(to_outputs(r, case["y_z"], wl) for r in case["ref_z"]),
        population_in=case["z_in"],
        population_out=~case["z_in"],
        train_loss=np.zeros(k),
    )
    knowledge = AttackerKnowledge(
        num_classes=C,
        population=to_outputs(case["target_z"], case["y_z"], wl),
        reference=reference,
        seed=seed,
    )
    target = to_outputs(case["target_x"], case["y_x"], wl)
    return knowledge, target


def slow_prob(views_logits, y, i, temperature):
    """Pr(record i | model): tempered softmax probability of the true class, mean over views."""
    return np.mean([softmax(v[i] / temperature)[y[i]] for v in views_logits])


def slow_rmia(case, *, online, gamma, temperature, a):
    """The definition, written as loops: Score(x) = fraction of z with ratio_x/ratio_z > gamma
    (x over its augmented views, z on the plain query, as the class documents)."""
    k = len(case["ref_x"])

    def pr_marginal(ref, y, trained, i):
        all_p = [slow_prob(ref[j], y, i, temperature) for j in range(k)]
        if online:
            return np.mean(all_p)
        out_p = [all_p[j] for j in range(k) if not trained[i, j]]
        if not out_p:
            return np.mean(all_p)
        return (1 + a) / 2 * np.mean(out_p) + (1 - a) / 2

    m = len(case["y_z"])
    ratio_z = []
    plain_ref_z = [views[:1] for views in case["ref_z"]]  # z: the plain query (issue 18)
    for i in range(m):
        p_t = slow_prob(case["target_z"][:1], case["y_z"], i, temperature)
        ratio_z.append(p_t / pr_marginal(plain_ref_z, case["y_z"], case["z_in"], i))
    scores = []
    for i in range(len(case["y_x"])):
        p_t = slow_prob(case["target_x"], case["y_x"], i, temperature)
        ratio_x = p_t / pr_marginal(case["ref_x"], case["y_x"], case["x_in"], i)
        count = 0
        for rz in ratio_z:
            if ratio_x / rz > gamma:
                count += 1
        scores.append(count / m)
    return np.array(scores)


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize(
    "gamma,temperature,with_logits,n_views",
    [(2.0, 1.0, True, 1), (1.0, 2.0, True, 1), (1.5, 0.5, False, 1), (2.0, 2.0, True, 3)],
)
def test_equals_double_loop_definition(online, gamma, temperature, with_logits, n_views):
    case = make_case(seed=1, with_logits=with_logits, n_views=n_views)
    case["x_in"][0] = True  # a record with no OUT model -> documented fallback
    knowledge, target = build(case)
    a = 0.3
    attack = RMIA(online=online, gamma=gamma, temperature=temperature, a=a, tie_break=False)
    scores = attack.fit(knowledge).score_samples(target)
    expected = slow_rmia(case, online=online, gamma=gamma, temperature=temperature, a=a)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    assert len(np.unique(scores)) > 5  # a non-trivial comparison


@pytest.mark.parametrize("a", [0.0, 1.0])
def test_offline_extreme_a(a):
    case = make_case(seed=2)
    knowledge, target = build(case)
    scores = RMIA(a=a, tie_break=False).fit(knowledge).score_samples(target)
    expected = slow_rmia(case, online=False, gamma=2.0, temperature=1.0, a=a)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)


def test_separates_members():
    case = make_case(n=400, m=300, k=8, seed=3, member_boost=2.0)
    knowledge, target = build(case)
    for online in (True, False):
        scores = (
            RMIA(online=online, gamma=1.0, tie_break=False).fit(knowledge).score_samples(target)
        )
        assert roc_auc_score(case["member"], scores) > 0.8


def test_tuned_a_is_on_grid_and_deterministic():
    case = make_case(n=200, m=150, k=6, seed=4)
    knowledge, target = build(case)
    first = RMIA().fit(knowledge)
    second = RMIA().fit(knowledge)
    assert 0.0 <= first.a_ <= 1.0 and first.a_ in A_GRID
    assert first.a_ == second.a_
    np.testing.assert_array_equal(first.tuning_auc_, second.tuning_auc_)
    assert first.tuning_auc_.shape == A_GRID.shape
    best = first.tuning_auc_.max()
    assert first.a_ == A_GRID[np.flatnonzero(first.tuning_auc_ == best)[0]]  # ties -> smallest
    np.testing.assert_array_equal(
        first.score_samples(target), RMIA(a=first.a_).fit(knowledge).score_samples(target)
    )
    assert RMIA(online=True).fit(knowledge).a_ is None


def test_num_population_subsamples_with_seed():
    case = make_case(seed=5, m=80)
    knowledge, target = build(case, seed=11)
    attack = RMIA(a=0.5, num_population=30).fit(knowledge)
    assert attack.sorted_log_ratio_z_.shape == (30,)
    again = RMIA(a=0.5, num_population=30).fit(knowledge)
    np.testing.assert_array_equal(attack.score_samples(target), again.score_samples(target))
    other_seed, _ = build(case, seed=12)
    other = RMIA(a=0.5, num_population=30).fit(other_seed)
    assert not np.array_equal(attack.sorted_log_ratio_z_, other.sorted_log_ratio_z_)
    everything = RMIA(a=0.5, num_population=1000).fit(knowledge)
    assert everything.sorted_log_ratio_z_.shape == (80,)


def test_zero_probabilities_stay_finite():
    case = make_case(seed=6, with_logits=False)
    knowledge, target = build(case)
    probs = target.probs.copy()
    probs[0] = 0.0
    probs[0, (target.y[0] + 1) % C] = 1.0  # true-class probability exactly 0
    scores = (
        RMIA(a=0.3, tie_break=False)
        .fit(knowledge)
        .score_samples(ModelOutputs(probs=probs, y=target.y))
    )
    assert np.all(np.isfinite(scores)) and scores[0] == 0.0


def test_reference_request_and_threat_model():
    assert RMIA(num_models=4).reference_request() == ReferenceRequest(kind="random", num_models=4)
    tm = RMIA.threat_model
    assert tm.knowledge == "black-box probabilities"
    assert tm.needs_shadow_models and tm.needs_same_distribution_data and tm.needs_architecture
    assert "Zarifzadeh" in tm.paper


def test_errors():
    case = make_case(seed=7)
    knowledge, target = build(case)
    with pytest.raises(DataError, match="reference"):
        RMIA().fit(AttackerKnowledge(num_classes=C, population=knowledge.population))
    with pytest.raises(DataError, match="population"):
        RMIA().fit(AttackerKnowledge(num_classes=C, reference=knowledge.reference))
    one = make_case(seed=7, k=1)
    knowledge_one, target_one = build(one)
    with pytest.raises(DataError, match="at least 2 reference models"):
        RMIA().fit(knowledge_one)
    assert np.all(np.isfinite(RMIA(a=0.3).fit(knowledge_one).score_samples(target_one)))
    for bad in (dict(gamma=0.0), dict(temperature=-1.0), dict(a=1.5), dict(num_population=0)):
        with pytest.raises(ConfigError):
            RMIA(**bad).fit(knowledge)
    attack = RMIA(a=0.3).fit(knowledge)
    with pytest.raises(DataError, match="not the records"):
        attack.score_samples(target.subset(np.arange(5)))


def test_tie_break_only_reorders_equal_scores():
    from miaudit.attacks.rmia import break_ties, rmia_scores

    rng = np.random.default_rng(3)
    log_x = rng.normal(scale=3.0, size=500)
    sorted_z = np.sort(rng.normal(size=7))  # few z: many ties
    plain = rmia_scores(log_x, sorted_z, 2.0)
    broken = plain + break_ties(log_x, len(sorted_z))
    differ = plain[:, None] < plain[None, :]
    assert np.all((broken[:, None] < broken[None, :])[differ])  # order kept
    tied = (plain[:, None] == plain[None, :]) & (log_x[:, None] < log_x[None, :])
    assert np.all((broken[:, None] < broken[None, :])[tied])  # ties ordered by ratio_x
