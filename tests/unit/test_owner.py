"""Issue 13 part 1: the owner's hypothesis test (exact against brute force and scipy), its
validity measured on owners never used (a real overfit target on Location), its power on
owners whose records were used, and the one-line refusals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from miaudit.errors import ConfigError, DataError
from miaudit.owner import min_p_value, owner_test, rejection_rate
from miaudit.pipeline.owner_audit import owner_audit


def _brute_force_p(owner, ref):
    """P(U >= u) by enumerating every assignment of the pooled scores to the owner."""
    pooled = np.concatenate([owner, ref])
    m = len(owner)

    def u(sel):
        own = pooled[list(sel)]
        rest = np.delete(pooled, list(sel))
        return sum((a > b) + 0.5 * (a == b) for a in own for b in rest)

    observed = u(range(m))
    combos = list(itertools.combinations(range(len(pooled)), m))
    return sum(u(c) >= observed - 1e-9 for c in combos) / len(combos)


@pytest.mark.parametrize(("m", "r"), [(1, 12), (2, 9), (3, 6)])
def test_exact_p_values_equal_brute_force_enumeration(m, r):
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(3):
        owner, ref = rng.normal(0.5, 1, m), rng.normal(0, 1, r)
        got = owner_test(owner, ref, alpha=0.5)
        assert got.method == "exact"
        assert got.p_value == pytest.approx(_brute_force_p(owner, ref), abs=1e-12)


def test_one_owner_record_with_ties_is_exact():
    ref = np.array([0.0, 1.0, 1.0, 2.0, 3.0] * 5)
    got = owner_test([1.0], ref, alpha=0.5)
    assert got.p_value == pytest.approx(_brute_force_p(np.array([1.0]), ref), abs=1e-12)


def test_exact_matches_scipy_and_welch_is_scipys():
    rng = np.random.default_rng(1)
    owner, ref = rng.normal(0.3, 1, 5), rng.normal(0, 1, 300)
    got = owner_test(owner, ref)
    want = stats.mannwhitneyu(owner, ref, alternative="greater", method="exact").pvalue
    assert got.p_value == pytest.approx(want, rel=1e-9)
    welch = owner_test(owner, ref, test="welch")
    t = stats.ttest_ind(owner, ref, equal_var=False, alternative="greater")
    assert welch.p_value == pytest.approx(t.pvalue) and welch.cohens_d is not None
    assert got.auc == pytest.approx(np.mean(owner[:, None] > ref[None, :]))


def test_the_rank_test_needs_enough_reference_records():
    assert min_p_value(1, 19) == pytest.approx(0.05)
    with pytest.raises(DataError, match="needs at least 19 reference non-members"):
        owner_test([1.0], np.arange(10.0))
    with pytest.raises(DataError, match="Welch t-test needs at least 2"):
        owner_test([1.0], np.arange(50.0), test="welch")
    with pytest.raises(ConfigError, match="unknown owner test"):
        owner_test([1.0], np.arange(50.0), test="z")
    with pytest.raises(ConfigError, match="alpha"):
        owner_test([1.0], np.arange(50.0), alpha=1.5)


@pytest.fixture(scope="module")
def location_scores():
    """Loss-attack scores of an overfit MLP on Location: 500 members, 1,500 non-members."""
    from sklearn.neural_network import MLPClassifier

    from miaudit.data import load_dataset
    from miaudit.pipeline import audit

    try:
        data = load_dataset("location", download=False)
    except Exception as exc:  # noqa: BLE001 -- no data directory: skip
        pytest.skip(f"Location not available: {exc}")
    x, y = np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    idx = np.random.default_rng(0).permutation(len(y))[:2000]
    mem, non = idx[:500], idx[500:]
    model = MLPClassifier((256,), max_iter=200, random_state=0).fit(x[mem], y[mem])
    result = audit(
        model,
        members=(x[mem], y[mem]),
        nonmembers=(x[non], y[non]),
        attacks=["loss"],
        bootstrap=0,
        progress=False,
    )
    scores = np.asarray(result.attacks[0].scores)
    return scores[:500], scores[500:]


@pytest.mark.parametrize("n_owner", [1, 5, 20])
def test_owners_never_used_are_rejected_at_most_alpha(location_scores, n_owner):
    """200 simulated owners drawn from non-members, each with 300 reference non-members:
    the rejection fraction at alpha = 0.05 must be <= 0.05 within its 95% binomial interval."""
    _, non = location_scores
    got = rejection_rate(non, None, n_owner=n_owner, n_reference=300, n_owners=200, seed=n_owner)
    assert got["ci"][0] <= 0.05, got


def test_owners_whose_records_were_used_are_detected(location_scores):
    members, non = location_scores
    power = rejection_rate(members, non, n_owner=20, n_reference=300, n_owners=100, seed=1)
    assert power["rate"] > 0.9, power  # an overfit MLP: its loss separates members clearly


def test_owner_audit_scores_and_refuses_bad_groups():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x[:400], y[:400])
    got = owner_audit(
        model, owner=(x[:10], y[:10]), reference_nonmembers=(x[1000:1300], y[1000:1300])
    )
    assert got.attack == "loss" and got.test.n_owner == 10 and got.test.n_reference == 300
    assert 0 <= got.test.p_value <= 1 and math.isfinite(got.test.auc)
    with pytest.raises(DataError, match="also among the reference non-members"):
        owner_audit(model, owner=(x[:10], y[:10]), reference_nonmembers=(x[5:400], y[5:400]))
    with pytest.raises(DataError, match="needs at least"):
        owner_audit(model, owner=(x[:1], y[:1]), reference_nonmembers=(x[1000:1010], y[1000:1010]))
    with pytest.raises(DataError, match="same kind"):
        owner_audit(
            model, owner=(x[:10, :32], y[:10]), reference_nonmembers=(x[1000:1300], y[1000:1300])
        )
    only_zeros = y[1000:1300] == 0
    with pytest.raises(DataError, match="no reference non-member has"):
        owner_audit(
            model,
            owner=(x[:10], y[:10]),
            reference_nonmembers=(x[1000:1300][only_zeros], y[1000:1300][only_zeros]),
        )


def test_owner_audit_with_reference_models_estimates_the_fraction_and_the_power():
    # a leaking target (a random forest memorises its training set) and 8 LiRA reference
    # models of the same recipe on random halves of the audited records: the owner's 60
    # records were all used, so the test rejects, DUCI's interval covers a large fraction
    # and the power at 50 records is high; the null rate stays within its interval
    from sklearn.datasets import load_digits

    from miaudit.pipeline import ReferenceSettings

    x, y = load_digits(return_X_y=True)
    params = {"n_estimators": 30, "max_depth": None}
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[:300], y[:300])
    got = owner_audit(
        model,
        owner=(x[:60], y[:60]),
        reference_nonmembers=(x[1000:1300], y[1000:1300]),
        attack="lira",
        reference=ReferenceSettings(model="random_forest", params=params, num_models=8),
        power_sizes=(1, 50),
    )
    assert got.test.reject
    assert got.usage is not None and got.usage.n_pseudo_targets == 8
    assert got.usage.ci[1] >= 0.6 and got.usage.fraction > 0.4
    assert got.threshold_test is not None and got.threshold_test.reject
    assert [row["n_owner"] for row in got.power] == [1, 50]
    assert got.power[1]["power"] > 0.8 and got.power[1]["null_ci"][0] <= 0.05
    d = got.to_dict()
    assert d["usage"]["n_owner"] == 60 and d["power"][0]["n_owner"] == 1
    # an attack without reference models says why there is no fraction or power
    plain = owner_audit(
        model, owner=(x[:60], y[:60]), reference_nonmembers=(x[1000:1300], y[1000:1300])
    )
    assert plain.usage is None and "lira or rmia" in plain.usage_note
    assert plain.power is None and plain.power_note


def test_the_default_attack_on_a_label_only_target_is_label_only():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from miaudit.pipeline.owner_audit import default_attack
    from miaudit.targets import LabelOnlyTarget, as_target

    assert default_attack(None, None, labels_only=True) == "augmentation"
    assert default_attack(object(), object(), labels_only=True) == "boundary_distance"
    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x[:400], y[:400])
    got = owner_audit(
        LabelOnlyTarget(as_target(model)),
        owner=(x[:20], y[:20]),
        reference_nonmembers=(x[1000:1300], y[1000:1300]),
    )
    assert got.attack == "augmentation" and 0 <= got.test.p_value <= 1
