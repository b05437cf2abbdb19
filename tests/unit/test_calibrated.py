"""Song & Mittal 2021: calibrated (per-class threshold) attacks and the privacy risk score."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from miaudit.attacks.calibrated import (
    CalibratedConfidence,
    CalibratedEntropy,
    CalibratedModifiedEntropy,
    PrivacyRiskScore,
    best_threshold,
    class_thresholds,
    privacy_risk_score,
    risk_histograms,
)
from miaudit.attacks.shokri import shadow_attack_data
from miaudit.errors import DataError
from miaudit.signals import entropy, modified_entropy, true_class_confidence
from tests.unit.test_shokri import C, knowledge, make_reference, make_target

CALIBRATED = [
    (CalibratedConfidence, true_class_confidence),
    (CalibratedEntropy, lambda o: -entropy(o)),
    (CalibratedModifiedEntropy, lambda o: -modified_entropy(o)),
]


def slow_threshold(tr, te):
    """The authors' search, one candidate at a time: keep the first strictly better one."""
    best_t, best_acc = 0.0, 0.0
    for v in np.concatenate([tr, te]):
        acc = 0.5 * (np.sum(tr >= v) / len(tr) + np.sum(te < v) / len(te))
        if acc > best_acc:
            best_t, best_acc = v, acc
    return best_t


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
    st.lists(st.integers(0, 6), min_size=1, max_size=15),
)
def test_best_threshold_equals_slow_search_with_ties(tr, te):
    tr, te = np.array(tr, float) / 3, np.array(te, float) / 3
    assert best_threshold(tr, te) == slow_threshold(tr, te)


@pytest.mark.parametrize("cls,signal", CALIBRATED)
def test_per_class_thresholds_equal_brute_force(cls, signal):
    ref = make_reference()
    attack = cls().fit(knowledge(ref))
    pooled, member = shadow_attack_data(ref, "t")
    values = signal(pooled)
    for c in range(C):
        rows = pooled.y == c
        expected = slow_threshold(values[rows & member], values[rows & ~member])
        assert attack.class_thresholds_[c] == expected
    assert attack.threshold_ == 0.0 and not attack.fallback_classes_.any()


@pytest.mark.parametrize("cls,signal", CALIBRATED)
def test_score_at_zero_is_the_per_class_rule(cls, signal):
    out, member = make_target()
    attack = cls().fit(knowledge(make_reference()))
    scores = attack.score_samples(out)
    assert scores.shape == (out.n,) and scores.dtype == np.float64
    per_class_rule = signal(out) >= attack.class_thresholds_[out.y]
    np.testing.assert_array_equal(scores >= 0.0, per_class_rule)
    assert roc_auc_score(member, scores) > 0.95


def test_class_without_shadow_rows_uses_global_threshold():
    values = np.array([0.9, 0.8, 0.2, 0.1, 0.95, 0.3])
    labels = np.array([0, 0, 0, 0, 1, 1])
    member = np.array([True, True, False, False, True, True])  # class 1: no out rows
    thresholds, fallback = class_thresholds(values, labels, member, 3)
    assert list(fallback) == [False, True, True]
    glob = slow_threshold(values[member], values[~member])
    assert thresholds[1] == thresholds[2] == glob
    assert thresholds[0] == slow_threshold(values[:2], values[2:4])


def slow_risk(tr, te, tr_y, te_y, values, labels, num_bins=5):
    """The authors' recipe, record by record: per-class log-spaced histograms normalised per
    set, value -> bin (clamped), empty bin -> nearest non-empty bin (lower side first)."""
    out = []
    for v, c in zip(values, labels, strict=True):
        a = np.maximum(tr[tr_y == c], 1e-10)
        b = np.maximum(te[te_y == c], 1e-10)
        both = np.concatenate([a, b])
        edges = np.logspace(np.log10(both.min()), np.log10(both.max()), num_bins + 1)

        def index(x, edges=edges):
            if x >= edges[-1]:
                return num_bins - 1
            if x <= edges[0]:
                return 0
            return int(np.nonzero(edges <= x)[0][-1])

        h_in = np.zeros(num_bins)
        h_out = np.zeros(num_bins)
        for x in a:
            h_in[index(x)] += 1 / len(a)
        for x in b:
            h_out[index(x)] += 1 / len(b)
        i = index(v)
        for d in range(num_bins):
            hit = [j for j in (i - d, i + d) if 0 <= j < num_bins and h_in[j] + h_out[j] > 0]
            if hit:
                out.append(h_in[hit[0]] / (h_in[hit[0]] + h_out[hit[0]]))
                break
    return np.array(out)


def test_privacy_risk_score_equals_slow_reference():
    rng = np.random.default_rng(0)
    tr = rng.exponential(0.05, 200)
    te = rng.exponential(1.0, 200)
    tr_y, te_y = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    values = np.concatenate([rng.exponential(0.3, 100), [0.0, 1e-12, 50.0]])
    labels = rng.integers(0, 3, values.size)
    for num_bins in (5, 20):  # 20 bins leaves empty bins to fill
        fast = privacy_risk_score(
            values,
            labels,
            in_values=tr,
            in_labels=tr_y,
            out_values=te,
            out_labels=te_y,
            num_classes=3,
            num_bins=num_bins,
        )
        slow = slow_risk(tr, te, tr_y, te_y, values, labels, num_bins=num_bins)
        np.testing.assert_allclose(fast, slow, rtol=1e-12)
        assert np.all((fast >= 0) & (fast <= 1))


def test_risk_histograms_fill_empty_bins_and_fall_back():
    hist = risk_histograms(
        np.array([0.01, 0.011]),
        np.array([0, 0]),
        np.array([10.0, 9.0]),
        np.array([0, 0]),
        num_classes=2,
        num_bins=5,
    )
    assert not np.isnan(hist.risk).any()
    # in values fill bin 0, out values bin 4; bin 2 is as near to both: the lower wins
    np.testing.assert_array_equal(hist.risk[0], [1, 1, 1, 0, 0])
    assert list(hist.fallback) == [False, True]


def test_privacy_risk_attack_in_unit_interval_and_monotone_ish():
    out, member = make_target()
    attack = PrivacyRiskScore()
    assert attack.fit(knowledge(make_reference())) is attack
    risk = attack.score_samples(out)
    assert risk.shape == (out.n,) and np.all((risk >= 0) & (risk <= 1))
    assert attack.threshold_ == 0.5
    assert roc_auc_score(member, risk) > 0.95
    # lower modified entropy -> higher risk, on average, within a class
    m = modified_entropy(out)
    for c in range(C):
        sel = out.y == c
        assert np.corrcoef(m[sel], risk[sel])[0, 1] < -0.5


def test_errors():
    for cls in (
        CalibratedConfidence,
        CalibratedEntropy,
        CalibratedModifiedEntropy,
        PrivacyRiskScore,
    ):
        with pytest.raises(DataError, match="needs reference/shadow models"):
            cls().fit(knowledge(None))
        assert cls(num_models=5).reference_request().num_models == 5
    with pytest.raises(DataError, match="in and one out"):
        best_threshold(np.array([]), np.array([1.0]))
