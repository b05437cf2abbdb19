"""Tests of miaudit.aggregate: Homer and Sankararaman statistics against slow loops, known
answers on synthetic cohorts (tiny cohort: AUC near 1; huge cohort or huge noise: AUC near
0.5), the noise scale against the stated sensitivity / epsilon, and one-line input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from miaudit.aggregate import (
    HomerAttack,
    PyrgelisAttack,
    PyrgelisPerTargetAttack,
    ReleaseMechanism,
    SankararamanAttack,
    analytic_gaussian_sigma,
    classic_gaussian_sigma,
    evaluate_aggregate_attack,
    genotype_panel,
    homer_statistic,
    pyrgelis_features,
    release_means,
    sankararaman_statistic,
)
from miaudit.errors import ConfigError, DataError, NotFittedError

# --- slow, obvious references --------------------------------------------------------------


def homer_loop(y, pop, mix, withheld=None):
    out = []
    for i in range(y.shape[0]):
        total = 0.0
        m = mix if mix.ndim == 1 else mix[i]
        for j in range(y.shape[1]):
            if withheld is not None and withheld[j]:
                continue
            total += abs(y[i, j] - pop[j]) - abs(y[i, j] - m[j])
        out.append(total)
    return np.array(out)


def sankararaman_loop(y, pop, mix, clip):
    out = []
    for i in range(y.shape[0]):
        total = 0.0
        for j in range(y.shape[1]):
            p = min(max(pop[j], clip), 1 - clip)
            m = min(max(mix[i, j], clip), 1 - clip)
            total += y[i, j] * math.log(m / p) + (1 - y[i, j]) * math.log((1 - m) / (1 - p))
        out.append(total)
    return np.array(out)


@pytest.fixture
def toy():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=(7, 12)) / 2.0
    pop = rng.uniform(0, 1, size=12)
    mix = rng.uniform(0, 1, size=(7, 12))
    pop[0], mix[:, 1], mix[2, 3] = 0.0, 1.0, 0.0  # exercise the clip
    return y, pop, mix


def test_homer_sum_matches_loop(toy):
    y, pop, mix = toy
    np.testing.assert_allclose(homer_statistic(y, pop, mix), homer_loop(y, pop, mix), rtol=1e-12)
    np.testing.assert_allclose(
        homer_statistic(y, pop, mix[0]), homer_loop(y, pop, mix[0]), rtol=1e-12
    )
    withheld = np.zeros(12, bool)
    withheld[[2, 5]] = True
    np.testing.assert_allclose(
        homer_statistic(y, pop, mix, withheld), homer_loop(y, pop, mix, withheld), rtol=1e-12
    )


def test_homer_t_is_the_papers_one_sample_t_test(toy):
    y, pop, mix = toy
    expected = [
        stats.ttest_1samp(np.abs(y[i] - pop) - np.abs(y[i] - mix[i]), 0.0).statistic
        for i in range(y.shape[0])
    ]
    np.testing.assert_allclose(homer_statistic(y, pop, mix, statistic="t"), expected, rtol=1e-10)


@pytest.mark.parametrize("clip", [1e-3, 0.05])
def test_sankararaman_matches_loop(toy, clip):
    y, pop, mix = toy
    got = sankararaman_statistic(y, pop, mix, clip=clip)
    assert got.dtype == np.float64 and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, sankararaman_loop(y, pop, mix, clip), rtol=1e-12)


def test_pyrgelis_features_match_loop(toy):
    y, pop, mix = toy
    feats = pyrgelis_features(y, pop, mix)
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            assert feats[i, j] == pytest.approx(y[i, j] * (mix[i, j] - pop[j]))
            assert feats[i, 12 + j] == pytest.approx((1 - y[i, j]) * (mix[i, j] - pop[j]))


def test_attack_classes_read_their_reference_population(toy):
    y, _, mix = toy
    ref = np.random.default_rng(0).integers(0, 2, size=(50, 12)).astype(float)
    pop = ref.mean(axis=0)
    np.testing.assert_allclose(
        HomerAttack().fit(ref).score_samples(y, mix), homer_loop(y, pop, mix)
    )
    np.testing.assert_allclose(
        SankararamanAttack().fit(ref).score_samples(y, mix), sankararaman_loop(y, pop, mix, 1e-3)
    )


# --- known answers on synthetic cohorts ----------------------------------------------------

ATTACK_NAMES = ("homer", "sankararaman", "pyrgelis")


def _attacks(n, mechanism):
    return {
        "homer": HomerAttack(),
        "sankararaman": SankararamanAttack(),
        "pyrgelis": PyrgelisAttack(cohort_size=n, mechanism=mechanism, n_cohorts=150),
    }


def test_tiny_cohort_is_identified():
    """A cohort of 5 over 200 binary features (frequencies Beta(0.5, 0.5)): every attack's
    AUC is above 0.95 (the exact means reveal each member's features)."""
    x, _ = genotype_panel(1200, 200, binary=True, seed=1)
    ev = evaluate_aggregate_attack(
        _attacks(5, ReleaseMechanism()), x, cohort_size=5, n_cohorts=150, n_resamples=20
    )
    assert ev.n_members == ev.n_nonmembers == 300
    for name in ATTACK_NAMES:
        assert ev.metrics[name].auc > 0.95, (name, ev.metrics[name].auc)


# AUC of 300 members against 300 non-members with no signal: sd about
# sqrt((1/300 + 1/300) / 12) = 0.024; 0.1 is four such sd (cohorts share targets in pairs).
CHANCE_TOLERANCE = 0.1


def test_huge_cohort_is_chance():
    """A cohort of 1,500 over 20 features: one record moves each mean by 1/1500, lost in the
    sampling noise of the cohort itself; AUC within 0.1 of 0.5."""
    x, _ = genotype_panel(4000, 20, seed=2)
    mech = ReleaseMechanism()
    ev = evaluate_aggregate_attack(
        _attacks(1500, mech), x, cohort_size=1500, n_cohorts=150, n_resamples=20
    )
    for name in ATTACK_NAMES:
        assert abs(ev.metrics[name].auc - 0.5) < CHANCE_TOLERANCE, (name, ev.metrics[name].auc)


def test_huge_noise_is_chance():
    """The tiny cohort of 5 again, with Laplace noise at epsilon = 0.01 (scale 200/5/0.01 =
    4,000 per mean, the release clipped to 0 or 1 almost independently of the data)."""
    x, _ = genotype_panel(1200, 200, binary=True, seed=1)
    mech = ReleaseMechanism("laplace", 0.01)
    ev = evaluate_aggregate_attack(
        _attacks(5, mech), x, cohort_size=5, mechanism=mech, n_cohorts=150, n_resamples=20
    )
    assert ev.noise_scale == pytest.approx(200 / 5 / 0.01)
    for name in ATTACK_NAMES:
        assert abs(ev.metrics[name].auc - 0.5) < CHANCE_TOLERANCE, (name, ev.metrics[name].auc)


def test_evaluation_is_seeded():
    x, _ = genotype_panel(300, 30, seed=4)
    mech = ReleaseMechanism("gaussian", 2.0, 1e-5)
    a = evaluate_aggregate_attack(
        _attacks(10, mech), x, cohort_size=10, mechanism=mech, n_cohorts=40, n_resamples=10, seed=7
    )
    b = evaluate_aggregate_attack(
        _attacks(10, mech), x, cohort_size=10, mechanism=mech, n_cohorts=40, n_resamples=10, seed=7
    )
    assert {k: m.to_dict() for k, m in a.metrics.items()} == {
        k: m.to_dict() for k, m in b.metrics.items()
    }


# --- the noise scale -----------------------------------------------------------------------


def test_laplace_scale_is_sensitivity_over_epsilon():
    """Laplace b = (d / n) / epsilon for d = 10 features, n = 1,000, epsilon = 1: b = 0.01.
    Over 4,000 releases (40,000 draws) the mean absolute noise estimates b with relative sd
    1/sqrt(40,000) = 0.5%, and the variance 2 b^2 with relative sd about 1.2%; tolerances 3%
    and 6% (the means are 0.5, 50 b away from the clip at 0 and 1)."""
    cohort = np.tile([[0.0] * 10, [1.0] * 10], (500, 1))
    rel = release_means(cohort, noise="laplace", epsilon=1.0, seed=0)
    assert rel.scale == pytest.approx(0.01) and rel.sensitivity == pytest.approx(0.01)
    rng = np.random.default_rng(0)
    noise = (
        np.stack(
            [
                release_means(cohort, noise="laplace", epsilon=1.0, seed=rng).means
                for _ in range(4000)
            ]
        )
        - 0.5
    )
    assert np.mean(np.abs(noise)) == pytest.approx(0.01, rel=0.03)
    assert np.var(noise) == pytest.approx(2 * 0.01**2, rel=0.06)
    assert abs(np.mean(noise)) < 3 * math.sqrt(2) * 0.01 / math.sqrt(noise.size)


def test_gaussian_sigma_is_the_analytic_mechanism():
    """sigma solves Balle & Wang's Theorem 8 with L2 sensitivity sqrt(d)/n, is below the
    classic sigma, and the released noise has that sd (4,000 x 10 draws, tolerance 3%)."""
    eps, delta, d, n = 0.5, 1e-5, 10, 1000
    cohort = np.tile([[0.0] * d, [1.0] * d], (n // 2, 1))
    rel = release_means(cohort, noise="gaussian", epsilon=eps, delta=delta, seed=0)
    sens = math.sqrt(d) / n
    assert rel.sensitivity == pytest.approx(sens)
    s = rel.scale
    gap = special.ndtr(sens / (2 * s) - eps * s / sens) - math.exp(eps) * special.ndtr(
        -sens / (2 * s) - eps * s / sens
    )
    assert gap == pytest.approx(delta, rel=1e-6)
    assert s < classic_gaussian_sigma(eps, delta, sens)
    assert analytic_gaussian_sigma(1.0, 1e-5, 1.0) == pytest.approx(3.73, abs=0.02)
    rng = np.random.default_rng(1)
    noise = (
        np.stack(
            [
                release_means(cohort, noise="gaussian", epsilon=eps, delta=delta, seed=rng).means
                for _ in range(4000)
            ]
        )
        - 0.5
    )
    assert np.std(noise) == pytest.approx(s, rel=0.03)


def test_no_noise_and_epsilon_inf_release_the_exact_means():
    x = np.random.default_rng(0).integers(0, 2, size=(20, 6)).astype(float)
    for rel in (
        release_means(x),
        release_means(x, noise="laplace", epsilon=math.inf),
        release_means(x, noise="gaussian", epsilon=math.inf, delta=1e-5),
    ):
        np.testing.assert_array_equal(rel.means, x.mean(axis=0))
        assert rel.epsilon == math.inf and rel.scale == 0.0 and rel.noise is None


def test_suppression_withholds_rare_features_and_attacks_ignore_them():
    x = np.zeros((10, 5))
    x[:, 0] = 1.0
    x[:1, 1] = 1.0  # frequency 0.1
    x[:3, 2] = 1.0  # frequency 0.3
    rel = release_means(x, suppress_below=0.2)
    np.testing.assert_array_equal(rel.withheld, [False, True, False, True, True])
    np.testing.assert_array_equal(rel.means, [1.0, 0.0, 0.3, 0.0, 0.0])
    ref = np.random.default_rng(0).uniform(0.2, 0.8, size=(30, 5))
    keep = ~rel.withheld
    for attack in (HomerAttack(), SankararamanAttack()):
        full = type(attack)().fit(ref[:, keep]).score_samples(x[:, keep], rel.means[keep])
        np.testing.assert_allclose(attack.fit(ref).score_samples(x, rel.means, rel.withheld), full)


# --- bad inputs: one-line errors -----------------------------------------------------------


def _one_line(excinfo):
    msg = str(excinfo.value)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"noise": "laplace", "epsilon": 0.0}, ConfigError, "epsilon"),
        ({"noise": "laplace", "epsilon": -1.0}, ConfigError, "epsilon"),
        ({"noise": "gaussian", "epsilon": 1.0}, ConfigError, "delta"),
        ({"noise": "laplace", "epsilon": 1.0, "delta": 1e-5}, ConfigError, "delta"),
        ({"noise": "uniform", "epsilon": 1.0}, ConfigError, "noise"),
        ({"epsilon": 1.0}, ConfigError, "noise"),
        ({"suppress_below": 2.0}, ConfigError, "suppress_below"),
    ],
)
def test_bad_release_settings(kwargs, error, needle):
    with pytest.raises(error) as excinfo:
        release_means(np.zeros((4, 3)), **kwargs)
    assert needle in _one_line(excinfo)


@pytest.mark.parametrize(
    ("cohort", "needle"),
    [
        (np.full((4, 3), 2.0), "[0, 1]"),
        (np.full((4, 3), np.nan), "NaN"),
        (np.zeros((0, 3)), "non-empty"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_bad_cohorts(cohort, needle):
    with pytest.raises(DataError) as excinfo:
        release_means(cohort)
    assert needle in _one_line(excinfo)


def test_bad_attack_inputs():
    ref = np.random.default_rng(0).integers(0, 2, size=(20, 6)).astype(float)
    with pytest.raises(NotFittedError) as excinfo:
        HomerAttack().score_samples(ref, ref.mean(0))
    _one_line(excinfo)
    attack = SankararamanAttack().fit(ref)
    with pytest.raises(DataError) as excinfo:  # a record of another width
        attack.score_samples(np.zeros((3, 5)), ref.mean(0))
    assert "5 features but 6" in _one_line(excinfo)
    with pytest.raises(DataError) as excinfo:  # a release of another width
        attack.score_samples(ref, np.full(7, 0.5))
    assert "shape" in _one_line(excinfo)
    with pytest.raises(DataError) as excinfo:  # frequencies outside [0, 1]
        attack.score_samples(ref, np.full(6, 1.5))
    assert "[0, 1]" in _one_line(excinfo)
    with pytest.raises(DataError) as excinfo:
        attack.score_samples(ref, np.full((3, 6), 0.5))
    assert "rows" in _one_line(excinfo)
    with pytest.raises(ConfigError) as excinfo:
        HomerAttack(statistic="median").fit(ref).score_samples(ref, ref.mean(0))
    _one_line(excinfo)
    with pytest.raises(ConfigError) as excinfo:
        PyrgelisAttack(cohort_size=18).fit(ref)  # 18 + 4 non-members > 20 records
    assert "cohort_size" in _one_line(excinfo)
    with pytest.raises(ConfigError) as excinfo:
        PyrgelisAttack(cohort_size=5, classifier="forest").fit(ref)
    _one_line(excinfo)
    with pytest.raises(ConfigError) as excinfo:
        evaluate_aggregate_attack({"homer": HomerAttack()}, ref, cohort_size=0)
    _one_line(excinfo)


def test_pyrgelis_mlp_and_suppression_end_to_end():
    """The MLP classifier and a suppressing mechanism run through the evaluation; the tiny
    cohort is still identified (AUC > 0.9) with features below frequency 0.2 withheld."""
    x, _ = genotype_panel(1200, 200, binary=True, seed=1)
    mech = ReleaseMechanism(suppress_below=0.2)
    attacks = {
        "homer": HomerAttack(),
        "mlp": PyrgelisAttack(cohort_size=5, mechanism=mech, n_cohorts=100, classifier="mlp"),
    }
    ev = evaluate_aggregate_attack(
        attacks, x, cohort_size=5, mechanism=mech, n_cohorts=100, n_resamples=10
    )
    for name, m in ev.metrics.items():
        assert m.auc > 0.9, (name, m.auc)


def test_the_package_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, miaudit.aggregate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pyrgelis_mlp_scores_are_its_log_odds():
    x, _ = genotype_panel(400, 30, binary=True, seed=5)
    attack = PyrgelisAttack(cohort_size=5, n_cohorts=60, classifier="mlp").fit(x)
    release = x[:5].mean(axis=0)
    scores = attack.score_samples(x[:20], release)
    feats = pyrgelis_features(x[:20], attack.population_means_, release)
    p = attack.classifier_.predict_proba(feats)[:, 1]
    np.testing.assert_allclose(1 / (1 + np.exp(-scores)), p, rtol=1e-9, atol=1e-12)


def test_pyrgelis_per_target_identifies_a_tiny_cohort():
    """The paper's per-target classifier (one fit per scored record): AUC > 0.9 for a cohort of
    5 over 100 binary features, 15 cohorts x (2 in + 2 out) = 60 scores."""
    x, _ = genotype_panel(400, 100, binary=True, seed=6)
    ev = evaluate_aggregate_attack(
        {"per_target": PyrgelisPerTargetAttack(cohort_size=5, n_cohorts=40)},
        x,
        cohort_size=5,
        n_cohorts=15,
        n_resamples=10,
    )
    assert ev.metrics["per_target"].auc > 0.9
    with pytest.raises(ConfigError) as excinfo:
        PyrgelisPerTargetAttack(cohort_size=400).fit(x[:100])
    assert "cohort_size" in _one_line(excinfo)
