"""How much of the owner's data was used (miaudit.owner.duci, Tong et al. 2025), the power
curve on pseudo-targets (miaudit.owner.power_curve) and the pseudo-targets themselves
(miaudit.pipeline._pseudo_targets): the threshold against a slow search, the estimate's
bias and interval coverage on simulated scores with known fractions, refusals, the power
curve's validity and power, and leave-one-out scoring against an independent construction.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from miaudit.attacks.base import AttackerKnowledge
from miaudit.attacks.lira import LiRA
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.owner import estimate_usage, power_curve
from miaudit.owner.duci import best_threshold, target_resemblance
from miaudit.pipeline._pseudo_targets import pseudo_target_scores


def _slow_best_threshold(scores, membership):
    """Every cut between distinct sorted scores (and above the top), the best J first."""
    values = np.unique(scores)
    cuts = np.r_[(values[1:] + values[:-1]) / 2, values[0] - 1.0, values[-1] + 1.0]
    best = None
    for tau in cuts:
        guess = scores > tau
        tpr = guess[membership].mean()
        fpr = guess[~membership].mean()
        if best is None or tpr - fpr > best[1] - best[2] + 1e-12:
            best = (tau, tpr, fpr)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_equals_a_slow_search(seed):
    rng = np.random.default_rng(seed)
    n = 60
    member = rng.random(n) < 0.5
    scores = np.round(rng.normal(size=n) + member, 1)  # rounding makes ties
    tau, tpr, fpr = best_threshold(scores, member)
    _, slow_tpr, slow_fpr = _slow_best_threshold(scores, member)
    assert tpr - fpr == pytest.approx(slow_tpr - slow_fpr, abs=1e-12)
    guess = scores > tau
    assert guess[member].mean() == pytest.approx(tpr) and guess[~member].mean() == pytest.approx(
        fpr
    )
    assert not np.any(scores == tau)  # never on a score, so ties are never split


def _simulated(fraction, *, n=200, k=8, signal=1.0, shift=0.0, rng):
    """Scores with a per-record hardness shared by every model (as real records have), a
    member shift ``signal``; k pseudo-targets on random halves, a target that used a
    ``fraction`` of the records."""
    hardness = rng.normal(0, 1.0, n)
    member = rng.random((k, n)) < 0.5
    pseudo = hardness + signal * member + rng.normal(0, 1, (k, n))
    used = np.zeros(n, bool)
    used[rng.choice(n, int(round(fraction * n)), replace=False)] = True
    target = hardness + signal * used + rng.normal(0, 1, n) + shift
    return target, pseudo, member


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1.0])
def test_estimate_is_unbiased_and_its_interval_covers(fraction):
    # 40 simulated audits per fraction: the mean estimate within 4 standard errors of the
    # truth, and the 95% interval covering the truth in at least 80% of them (a binomial
    # lower bound at 40 trials: P(Bin(40, 0.95) < 32) < 0.001), so the check fails for an
    # interval that ignores a source of variance (record resampling alone covers ~70% here)
    rng = np.random.default_rng(11)
    raws, covered = [], 0
    for i in range(40):
        t, p, m = _simulated(fraction, rng=rng)
        est = estimate_usage(t, p, m, resamples=200, seed=i)
        raws.append(est.raw)
        covered += est.ci[0] <= fraction <= est.ci[1]
        assert 0 <= est.ci[0] <= est.fraction <= est.ci[1] <= 1 or not (
            est.ci[0] <= est.fraction <= est.ci[1]
        )
    raws = np.asarray(raws)
    assert abs(raws.mean() - fraction) < 4 * raws.std(ddof=1) / np.sqrt(raws.size)
    assert covered >= 32


def test_the_targets_own_nonmembers_keep_a_shifted_target_unbiased_at_zero():
    # the target's scores shifted up by 0.5 (e.g. it trained on more records than the
    # references): with the pseudo-targets' FPR the estimate for an owner none of whose
    # records was used is biased up; with the FPR of the target's known non-members (same
    # shift, same distribution) it is unbiased for 0 and its interval covers 0
    rng = np.random.default_rng(21)
    pseudo_only, with_target = [], []
    covered = 0
    for i in range(30):
        t, p, m = _simulated(0.0, shift=0.5, rng=rng)
        hardness = rng.normal(0, 1.0, 300)
        nonmembers = hardness + rng.normal(0, 1, 300) + 0.5
        pseudo_only.append(estimate_usage(t, p, m, resamples=100, seed=i).raw)
        est = estimate_usage(t, p, m, target_nonmember_scores=nonmembers, resamples=200, seed=i)
        assert est.fpr_source == "target" and "known not to be" in est.assumptions
        with_target.append(est.raw)
        covered += est.ci[0] <= 0.0 <= est.ci[1]
    pseudo_only, with_target = np.asarray(pseudo_only), np.asarray(with_target)
    se = with_target.std(ddof=1) / np.sqrt(with_target.size)
    assert abs(with_target.mean()) < 4 * se
    assert pseudo_only.mean() > 0.2  # the bias this option removes (about 0.35 here)
    assert covered >= 24  # P(Bin(30, 0.95) < 24) < 0.001


def test_estimate_separates_fractions_and_states_its_parts():
    rng = np.random.default_rng(3)
    t, p, m = _simulated(0.5, n=400, k=16, signal=2.0, rng=rng)
    est = estimate_usage(t, p, m, resamples=300)
    assert est.ci[0] > 0.3 and est.ci[1] < 0.7
    assert est.n_owner == 400 and est.n_pseudo_targets == 16
    assert est.tpr > est.fpr and 0 <= est.guessed <= 1
    d = est.to_dict()
    assert d["ci"] == list(est.ci) and "Tong" in d["paper"]
    assert "%" in est.sentence()


def test_estimate_refusals_name_the_problem():
    rng = np.random.default_rng(0)
    t, p, m = _simulated(0.5, rng=rng)
    with pytest.raises(DataError, match="does not separate"):
        noise = rng.normal(size=p.shape)
        estimate_usage(t, noise, m)
    with pytest.raises(DataError, match="expected"):
        estimate_usage(t[:-1], p, m)
    with pytest.raises(DataError, match="boolean"):
        estimate_usage(t, p, m.astype(int))
    with pytest.raises(DataError, match="all or none"):
        estimate_usage(t, p, np.ones_like(m))
    with pytest.raises(DataError, match="NaN"):
        bad = t.copy()
        bad[0] = np.nan
        estimate_usage(bad, p, m)
    with pytest.raises(DataError, match="at least 2 reference"):
        estimate_usage(t, p[:1], m[:1])


def test_power_curve_is_valid_without_signal_and_powerful_with_it():
    rng = np.random.default_rng(5)
    k, n = 8, 600
    member = rng.random((k, n)) < 0.5
    hardness = rng.normal(size=n)
    flat = hardness + rng.normal(size=(k, n))  # membership leaves no trace
    rows = power_curve(flat, member, n_reference=200, sizes=(5, 50), owners=400)
    for row in rows:
        # no signal: "used" and "unused" owners are both null owners, rejected <= alpha
        assert row["null_ci"][0] <= 0.05 and row["power_ci"][0] <= 0.05
        assert row["owners"] == 400
    strong = hardness + 3.0 * member + rng.normal(size=(k, n))
    rows = power_curve(strong, member, n_reference=200, sizes=(1, 50), owners=200)
    assert rows[1]["power"] > 0.95
    assert rows[1]["null_ci"][0] <= 0.05
    assert rows[0]["power"] < rows[1]["power"]


def test_power_curve_reports_sizes_it_cannot_test():
    rng = np.random.default_rng(0)
    member = rng.random((4, 30)) < 0.5
    scores = rng.normal(size=(4, 30))
    rows = power_curve(scores, member, n_reference=3, sizes=(1, 5))
    assert rows[0]["power"] is None and "cannot test 1" in rows[0]["reason"]
    with pytest.raises(DataError, match="same"):
        power_curve(scores, member[:, :-1], n_reference=3)


# --- pseudo-targets: leave-one-out scoring, against an independent construction ----------


def _outputs(phi):
    n = phi.size
    return ModelOutputs.from_logits(np.stack([phi, np.zeros(n)], axis=1), np.zeros(n, np.int64))


def _reference(phi, is_in):
    n, k = phi.shape
    return ReferenceOutputs(
        audited=tuple(_outputs(phi[:, j]) for j in range(k)),
        audited_in=is_in,
        population=(),
        population_in=np.zeros((n, k), bool),
        population_out=np.zeros((n, k), bool),
        train_loss=np.zeros(k),
    )


def _case(n=50, k=6, seed=0):
    rng = np.random.default_rng(seed)
    is_in = rng.random((n, k)) < 0.5
    phi = rng.normal(0, 2, (n, 1)) + rng.normal(size=(n, k)) + 2.0 * is_in
    return phi, is_in


def test_pseudo_targets_equal_leave_one_out_fits():
    phi, is_in = _case()
    got = pseudo_target_scores(LiRA(), AttackerKnowledge(2, reference=_reference(phi, is_in)))
    assert got.scores.shape == (6, 50) and got.membership.shape == (6, 50)
    np.testing.assert_array_equal(got.membership, is_in.T)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        ref = _reference(phi[:, others], is_in[:, others])
        slow = LiRA().fit(AttackerKnowledge(2, reference=ref)).score_samples(_outputs(phi[:, j]))
        # the same float64 computation on the same numbers: equal to rounding
        np.testing.assert_allclose(got.scores[j], slow, rtol=1e-12, atol=1e-12)
    auc = stats.mannwhitneyu(got.scores[is_in.T], got.scores[~is_in.T]).statistic / (
        is_in.sum() * (~is_in).sum()
    )
    # leaking references (shift 2, noise 1, 5 models per fit): members separate; chance
    # would give 0.5 +- 0.03 with 150 records on each side
    assert auc > 0.65


def test_a_pseudo_target_never_sees_its_own_membership():
    phi, is_in = _case(seed=1)
    base = pseudo_target_scores(LiRA(), AttackerKnowledge(2, reference=_reference(phi, is_in)))
    flipped = is_in.copy()
    flipped[:, 2] = ~flipped[:, 2]
    moved = pseudo_target_scores(LiRA(), AttackerKnowledge(2, reference=_reference(phi, flipped)))
    np.testing.assert_array_equal(moved.scores[2], base.scores[2])  # model 2 left out of its fit
    assert not np.allclose(moved.scores[0], base.scores[0])  # model 2 is in the others' fit


def test_pseudo_targets_refuse_what_they_cannot_score():
    phi, is_in = _case(k=2)
    with pytest.raises(DataError, match="at least 3"):
        pseudo_target_scores(LiRA(), AttackerKnowledge(2, reference=_reference(phi, is_in)))
    with pytest.raises(DataError, match="random halves"):
        pseudo_target_scores(LiRA(), AttackerKnowledge(2))


def test_resemblance_flags_a_target_that_scores_unlike_its_references():
    rng = np.random.default_rng(2)
    pseudo = rng.normal(size=2000)
    alike = target_resemblance(rng.normal(size=300), pseudo)
    shifted = target_resemblance(rng.normal(0.6, 1, size=300), pseudo)
    assert not alike["mismatch"] and shifted["mismatch"]
    assert "not trained like them" in shifted["sentence"]


def test_threshold_test_is_fisher_and_valid_under_exchangeability():
    from miaudit.owner._threshold_test import threshold_test

    own = np.array([3.0, 0.1, 2.5, -1.0])
    ref = np.array([0.0, 0.2, -0.5, 1.5, 0.3, -2.0])
    got = threshold_test(own, ref, 1.0)
    want = stats.fisher_exact([[2, 2], [1, 5]], alternative="greater").pvalue
    assert got.owner_above == 2 and got.reference_above == 1
    assert got.p_value == pytest.approx(want, rel=1e-12)
    # exchangeable owners (a fixed threshold, scores from one distribution): rejected at
    # most alpha within the Clopper-Pearson interval of 1,000 independent trials; Fisher's
    # test is conservative with discrete counts, so the rate is usually well below 0.05
    rng = np.random.default_rng(8)
    rejected = sum(
        threshold_test(rng.normal(size=20), rng.normal(size=200), 1.5).reject for _ in range(1000)
    )
    lo, _ = stats.binomtest(rejected, 1000).proportion_ci(0.95, method="exact")
    assert lo <= 0.05
    # and a few used records among many are found: 5 of 100 with a strong signal
    hits = sum(
        threshold_test(
            np.r_[rng.normal(4, 1, 5), rng.normal(size=95)], rng.normal(size=400), 2.5
        ).reject
        for _ in range(200)
    )
    assert hits > 100
    with pytest.raises(DataError, match="finite"):
        threshold_test(own, ref, float("nan"))
