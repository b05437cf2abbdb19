"""LiRA (Carlini et al. 2022): golden values against plot.py's formulas, the analytical
optimum on Gaussian signals, the vectorised code against a slow per-record loop."""

import math

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import roc_auc_score

import miaudit.attacks.lira as lira_module
from miaudit.attacks._out_stats import STD_FLOOR, masked_mean_std, per_record_gaussians
from miaudit.attacks.base import AttackerKnowledge, ReferenceRequest
from miaudit.attacks.lira import LiRA
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.signals import scaled_logit


def outputs_with_phi(phi):
    """Outputs whose scaled logit is exactly ``phi``: 2-class logits [phi, 0], label 0.

    ``phi`` is (n,) or (n, n_views); several views become augmented queries.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 1:
        phi = phi[:, None]
    n = phi.shape[0]
    y = np.zeros(n, dtype=np.int64)
    views = [
        ModelOutputs.from_logits(np.stack([phi[:, v], np.zeros(n)], axis=1), y)
        for v in range(phi.shape[1])
    ]
    if len(views) == 1:
        return views[0]
    return ModelOutputs(probs=views[0].probs, y=y, logits=views[0].logits, augmented=tuple(views))


def reference_with_phi(phi, is_in):
    """ReferenceOutputs of k models with phi (n, k, n_views) on the audited records."""
    n, k, _ = phi.shape
    return ReferenceOutputs(
        audited=tuple(outputs_with_phi(phi[:, j, :]) for j in range(k)),
        audited_in=is_in,
        population=(),
        population_in=np.zeros((n, k), bool),
        population_out=np.zeros((n, k), bool),
        train_loss=np.zeros(k),
    )


def knowledge_with(reference):
    return AttackerKnowledge(num_classes=2, reference=reference)


def random_case(n=40, k=12, v=3, seed=0, min_count=1):
    rng = np.random.default_rng(seed)
    is_in = rng.random((n, k)) < 0.5
    while min(is_in.sum(1).min(), (~is_in).sum(1).min()) < min_count:
        is_in = rng.random((n, k)) < 0.5
    offset = rng.normal(0, 2, size=(n, 1, 1))
    phi = offset + rng.normal(size=(n, k, v)) + 1.5 * is_in[:, :, None]
    target = offset[:, 0, :] + rng.normal(size=(n, v)) + 0.7
    return phi, is_in, target


# --- an independent transcription of plot.py (tensorflow/privacy research/mi_lira_2021) -----
# Layout there: scores (models, records, augs), keep (models, records); member score is
# -prediction because plot.py ranks with roc_curve(answers, -prediction).


def _plotpy_fit(keep, scores, side_in):
    per_record = []
    for j in range(scores.shape[1]):
        sel = keep[:, j] if side_in else ~keep[:, j]
        per_record.append(scores[sel, j, :])
    size = min(len(x) for x in per_record)
    return np.array([x[:size] for x in per_record])  # (records, size, augs)


def plotpy_online(keep, scores, target, fix_variance):
    dat_in = _plotpy_fit(keep, scores, True)
    dat_out = _plotpy_fit(keep, scores, False)
    mean_in, mean_out = np.median(dat_in, 1), np.median(dat_out, 1)
    if fix_variance:
        std_in = std_out = np.std(dat_in)
    else:
        std_in, std_out = np.std(dat_in, 1), np.std(dat_out, 1)
    pr_in = -scipy.stats.norm.logpdf(target, mean_in, std_in + 1e-30)
    pr_out = -scipy.stats.norm.logpdf(target, mean_out, std_out + 1e-30)
    prediction = (pr_in - pr_out).mean(1)
    return -prediction


def plotpy_offline(keep, scores, target, fix_variance):
    dat_out = _plotpy_fit(keep, scores, False)
    mean_out = np.median(dat_out, 1)
    std_out = np.std(dat_out) if fix_variance else np.std(dat_out, 1)
    prediction = scipy.stats.norm.logpdf(target, mean_out, std_out + 1e-30).mean(1)
    return -prediction


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("fixed_variance", [False, True])
def test_reference_scoring_equals_plotpy(online, fixed_variance):
    phi, is_in, target = random_case()
    assert len(set(is_in.sum(1))) > 1  # counts differ, so plot.py's truncation matters
    attack = LiRA(online=online, fixed_variance=fixed_variance, reference_scoring=True)
    scores = attack.fit(knowledge_with(reference_with_phi(phi, is_in))).score_samples(
        outputs_with_phi(target)
    )
    keep, ref_scores = is_in.T, phi.transpose(1, 0, 2)
    golden = (plotpy_online if online else plotpy_offline)(keep, ref_scores, target, fixed_variance)
    np.testing.assert_allclose(scores, golden, rtol=1e-9, atol=1e-9)


def test_fixed_variance_quirk_uses_in_spread_for_both():
    phi, is_in, target = random_case(seed=3)
    phi = phi + 2.0 * (~is_in)[:, :, None] * np.random.default_rng(1).normal(size=phi.shape)
    ref = reference_with_phi(phi, is_in)
    quirk = LiRA(fixed_variance=True, reference_scoring=True).fit(knowledge_with(ref))
    np.testing.assert_array_equal(quirk.std_out_, quirk.std_in_)
    paper = LiRA(fixed_variance=True).fit(knowledge_with(ref))
    assert paper.std_out_[0, 0] > paper.std_in_[0, 0] + 0.5
    assert paper.std_in_[0, 0] == pytest.approx(np.std(phi[is_in]))
    assert paper.std_out_[0, 0] == pytest.approx(np.std(phi[~is_in]))


def test_offline_default_is_one_sided_log_cdf():
    phi, is_in, target = random_case(seed=4, v=2)
    attack = LiRA(online=False).fit(knowledge_with(reference_with_phi(phi, is_in)))
    scores = attack.score_samples(outputs_with_phi(target))
    expected = np.empty(phi.shape[0])
    for i in range(phi.shape[0]):
        per_view = []
        for v in range(phi.shape[2]):
            out = phi[i, ~is_in[i], v]
            per_view.append(scipy.stats.norm.logcdf(target[i, v], out.mean(), out.std()))
        expected[i] = np.mean(per_view)
    np.testing.assert_allclose(scores, expected, rtol=1e-10, atol=1e-12)
    # One-sided: far below the OUT distribution is a non-member (the reference form disagrees).
    low = target - 50.0
    assert np.all(attack.score_samples(outputs_with_phi(low)) < scores)
    ref = LiRA(online=False, reference_scoring=True).fit(
        knowledge_with(reference_with_phi(phi, is_in))
    )
    assert np.all(
        ref.score_samples(outputs_with_phi(low)) > ref.score_samples(outputs_with_phi(target))
    )


def slow_lira(phi, is_in, target, *, online, fixed_variance):
    """Per-record loop over the documented default rules (mean, ddof=0 std, floor, fallbacks)."""
    floor = lira_module.STD_FLOOR
    g_in = max(np.std(phi[is_in]), floor)
    g_out = max(np.std(phi[~is_in]), floor)
    gap = phi[is_in].mean() - phi[~is_in].mean()
    n, _, v = phi.shape
    scores = np.empty(n)
    for i in range(n):
        stats = []
        for w in range(v):
            ins, outs = phi[i, is_in[i], w], phi[i, ~is_in[i], w]

            def loc_scale(values, g):
                if len(values) == 0:
                    return None, g
                s = g if fixed_variance or len(values) < 2 else max(np.std(values), floor)
                return np.mean(values), s

            mu_in, s_in = loc_scale(ins, g_in)
            mu_out, s_out = loc_scale(outs, g_out)
            if mu_in is None:
                mu_in = mu_out + gap
            if mu_out is None:
                mu_out = mu_in - gap
            x = target[i, w]
            if online:
                stat = scipy.stats.norm.logpdf(x, mu_in, s_in) - scipy.stats.norm.logpdf(
                    x, mu_out, s_out
                )
            else:
                stat = scipy.stats.norm.logcdf((x - mu_out) / s_out)
            stats.append(stat)
        scores[i] = np.mean(stats)
    return scores


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("fixed_variance", [False, True])
def test_vectorised_equals_slow_loop_with_fallbacks(online, fixed_variance):
    rng = np.random.default_rng(7)
    n, k, v = 60, 5, 2
    phi = rng.normal(size=(n, k, v))
    is_in = rng.random((n, k)) < 0.5
    is_in[0] = True  # no OUT model
    is_in[1] = False  # no IN model
    is_in[2] = [True, False, False, False, False]  # a single IN model
    is_in[3] = [False, True, True, True, True]  # a single OUT model
    phi[4, :, :] = 0.25  # zero spread -> floor
    phi = phi + is_in[:, :, None]
    target = rng.normal(size=(n, v)) + 0.5
    attack = LiRA(online=online, fixed_variance=fixed_variance)
    scores = attack.fit(knowledge_with(reference_with_phi(phi, is_in))).score_samples(
        outputs_with_phi(target)
    )
    assert np.all(np.isfinite(scores))
    expected = slow_lira(phi, is_in, target, online=online, fixed_variance=fixed_variance)
    np.testing.assert_allclose(scores, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("online", [True, False])
def test_reference_scoring_never_nan_without_in_or_out_models(online):
    phi, is_in, target = random_case(seed=5)
    is_in[0], is_in[1] = True, False
    attack = LiRA(online=online, reference_scoring=True)
    scores = attack.fit(knowledge_with(reference_with_phi(phi, is_in))).score_samples(
        outputs_with_phi(target)
    )
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("online", [True, False])
@pytest.mark.parametrize("reference_scoring", [False, True])
def test_augmented_views_are_averaged(online, reference_scoring):
    phi, is_in, target = random_case(seed=6, v=3)
    params = dict(online=online, reference_scoring=reference_scoring)
    all_views = LiRA(**params).fit(knowledge_with(reference_with_phi(phi, is_in)))
    together = all_views.score_samples(outputs_with_phi(target))
    per_view = [
        LiRA(**params)
        .fit(knowledge_with(reference_with_phi(phi[:, :, w : w + 1], is_in)))
        .score_samples(outputs_with_phi(target[:, w]))
        for w in range(3)
    ]
    np.testing.assert_allclose(together, np.mean(per_view, axis=0), rtol=1e-12, atol=1e-12)


def test_helper_gives_exact_phi():
    phi = np.array([-3.0, 0.0, 2.5, 30.0])
    np.testing.assert_allclose(scaled_logit(outputs_with_phi(phi)), phi, rtol=0, atol=1e-12)


@pytest.mark.parametrize("online", [True, False])
def test_gaussian_optimum_auc(online):
    """IN ~ N(c_i + 1, 1), OUT ~ N(c_i, 1) per record: the likelihood-ratio test reaches the
    analytical optimum AUC Phi(1 / sqrt 2) ~ 0.7602; a global threshold does not."""
    rng = np.random.default_rng(0)
    n, k = 20_000, 256
    offset = rng.normal(0.0, 3.0, size=(n, 1))
    is_in = rng.random((n, k)) < 0.5
    phi = (offset + is_in + rng.normal(size=(n, k)))[:, :, None]
    member = np.arange(n) % 2 == 0
    target = offset[:, 0] + member + rng.normal(size=n)
    attack = LiRA(online=online).fit(knowledge_with(reference_with_phi(phi, is_in)))
    scores = attack.score_samples(outputs_with_phi(target))
    optimum = scipy.stats.norm.cdf(1 / math.sqrt(2))
    assert optimum == pytest.approx(0.7602, abs=1e-4)
    assert roc_auc_score(member, scores) == pytest.approx(optimum, abs=0.01)
    assert roc_auc_score(member, target) < optimum - 0.1


def test_reference_request_and_threat_model():
    assert LiRA(num_models=16).reference_request() == ReferenceRequest(kind="random", num_models=16)
    tm = LiRA.threat_model
    assert tm.knowledge == "black-box probabilities"
    assert tm.needs_shadow_models and tm.needs_same_distribution_data and tm.needs_architecture
    assert "Carlini" in tm.paper


def test_errors():
    phi, is_in, target = random_case(v=2)
    with pytest.raises(DataError, match="reference"):
        LiRA().fit(AttackerKnowledge(num_classes=2))
    attack = LiRA().fit(knowledge_with(reference_with_phi(phi, is_in)))
    with pytest.raises(DataError, match="not the records"):
        attack.score_samples(outputs_with_phi(target[:-1]))
    with pytest.raises(DataError, match="augmented views"):
        attack.score_samples(outputs_with_phi(target[:, 0]))
    all_out = np.zeros_like(is_in)
    with pytest.raises(DataError, match="online=False"):
        LiRA().fit(knowledge_with(reference_with_phi(phi, all_out)))
    offline = LiRA(online=False).fit(knowledge_with(reference_with_phi(phi, all_out)))
    assert np.all(np.isfinite(offline.score_samples(outputs_with_phi(target))))
    with pytest.raises(DataError, match="OUT"):
        LiRA(online=False).fit(knowledge_with(reference_with_phi(phi, ~all_out)))


def test_probability_only_outputs_and_determinism():
    phi, is_in, target = random_case(seed=9, v=1)
    ref = reference_with_phi(phi, is_in)
    probs_only = ReferenceOutputs(
        audited=tuple(ModelOutputs(probs=m.probs, y=m.y) for m in ref.audited),
        audited_in=is_in,
        population=(),
        population_in=ref.population_in,
        population_out=ref.population_out,
        train_loss=ref.train_loss,
    )
    t = outputs_with_phi(target[:, 0])
    s1 = LiRA().fit(knowledge_with(ref)).score_samples(t)
    s2 = LiRA().fit(knowledge_with(probs_only)).score_samples(ModelOutputs(probs=t.probs, y=t.y))
    np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(s1, LiRA().fit(knowledge_with(ref)).score_samples(t))


@pytest.mark.parametrize("views", [None, 1, 3])
@pytest.mark.parametrize("fixed_variance", [False, True])
def test_shared_per_record_gaussians_equal_slow_loop(views, fixed_variance):
    """The per-record statistics LiRA and GMIA share (miaudit.attacks._out_stats), on (n, k)
    and (n, k, v) signals, against a per-record, per-view loop."""
    rng = np.random.default_rng(11)
    n, k = 30, 6
    phi = rng.normal(size=(n, k) if views is None else (n, k, views))
    mask = rng.random((n, k)) < 0.5
    mask[0] = False  # no model: location placeholder 0, global spread
    mask[1] = [True, False, False, False, False, False]  # one model: global spread
    mask[2] = True
    phi[2] = 0.75  # zero spread: floored
    mu, s, g = per_record_gaussians(phi, mask, fixed_variance=fixed_variance)
    mean, std = masked_mean_std(phi, mask)
    p = phi if views is not None else phi[:, :, None]
    exp_g = max(np.std(p[mask]), STD_FLOOR)
    assert g == pytest.approx(exp_g, rel=1e-12)
    assert mu.shape == s.shape == mean.shape == std.shape == phi.shape[:1] + phi.shape[2:]
    mu, s = mu.reshape(n, -1), s.reshape(n, -1)
    mean, std = mean.reshape(n, -1), std.reshape(n, -1)
    for i in range(n):
        for w in range(p.shape[2]):
            values = p[i, mask[i], w]
            exp_mean = np.mean(values) if len(values) else 0.0
            exp_std = np.std(values) if len(values) else 0.0
            assert mean[i, w] == pytest.approx(exp_mean, rel=1e-12, abs=1e-15)
            assert std[i, w] == pytest.approx(exp_std, rel=1e-12, abs=1e-15)
            assert mu[i, w] == mean[i, w]
            if fixed_variance or len(values) < 2:
                assert s[i, w] == g
            else:
                assert s[i, w] == pytest.approx(max(exp_std, STD_FLOOR), rel=1e-12)
    assert lira_module.STD_FLOOR == STD_FLOOR
