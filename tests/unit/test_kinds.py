"""The target-kind layer (issue 10 item 7): the Signals value, the classifier kind, and the
threshold attacks ported onto it, whose scores must keep every bit."""

import os
import subprocess
import sys

import numpy as np
import pytest

from miaudit.attacks import AttackerKnowledge, make_attack
from miaudit.attacks.salem import ConfidenceAttack
from miaudit.attacks.song_mittal import EntropyAttack, ModifiedEntropyAttack
from miaudit.attacks.yeom import GapAttack, LossAttack
from miaudit.errors import DataError
from miaudit.kinds import (
    CLASSIFIER,
    LabeledRecords,
    Records,
    Signals,
    SignalThreshold,
    TargetKind,
    measure,
)
from miaudit.outputs import ModelOutputs
from miaudit.signals import (
    SIGNALS,
    correctness,
    entropy,
    loss,
    max_confidence,
    max_confidence_log_odds,
    modified_entropy,
    probability_log_odds,
)
from miaudit.targets import PrecomputedTarget

# -- Signals ---------------------------------------------------------------------------


def test_signals_hold_float64_rows_read_only_and_keep_float64_bits():
    loss_values = np.array([0.5, 1e-300, 3.0])
    sig = Signals(
        3, {"loss": loss_values, "count": np.array([1, 2, 3]), "hit": [True, False, True]}
    )
    assert sig.names == ("loss", "count", "hit")
    assert sig["loss"].dtype == sig["count"].dtype == sig["hit"].dtype == np.float64
    assert np.shares_memory(sig["loss"], loss_values)  # float64 in: the very same values
    assert np.array_equal(sig["hit"], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="read-only"):
        sig["loss"][0] = 9.0
    assert loss_values.flags.writeable  # the caller's array is not frozen
    assert "loss" in sig and "zlib" not in sig


def test_signals_take_per_record_matrices_with_masks():
    token_loss = np.array([[0.1, 0.2, 0.0], [0.3, 0.0, 0.0]])
    mask = np.array([[True, True, False], [True, False, False]])
    sig = Signals(2, {"token_loss": token_loss, "loss": [0.15, 0.3]}, {"token_loss": mask})
    assert np.array_equal(sig.mask("token_loss"), mask)
    assert sig.mask("loss").all() and sig.mask("loss").shape == (2,)
    sub = sig.subset(np.array([1]))
    assert sub.n == 1 and np.array_equal(sub["token_loss"], token_loss[[1]])
    assert np.array_equal(sub.mask("token_loss"), mask[[1]])
    assert sig.subset(np.array([True, False])).n == 1


@pytest.mark.parametrize(
    "n,values,masks,match",
    [
        (3, {"loss": np.zeros(2)}, {}, r"'loss' has shape \(2,\); expected one row per record"),
        (2, {"loss": np.array(0.0)}, {}, "one row per record"),
        (2, {"loss": [0.0, np.nan]}, {}, "NaN or inf values in 1 of 2 records"),
        (2, {"s": np.array([[1.0, np.inf], [0, 0]])}, {}, "NaN or inf values in 1 of 2"),
        (2, {"loss": ["a", "b"]}, {}, "must be real numbers"),
        (2, {"loss": [1j, 2j]}, {}, "must be real numbers"),
        (2, {}, {}, "at least one named signal"),
        (2, {"": [0.0, 1.0]}, {}, "non-empty strings"),
        (-1, {"loss": []}, {}, "n must be a non-negative integer"),
        (True, {"loss": [0.0]}, {}, "n must be a non-negative integer"),
        (2, {"t": np.zeros((2, 3))}, {"t": np.ones((2, 3))}, "must be boolean"),
        (2, {"t": np.zeros((2, 3))}, {"t": np.ones((2, 2), bool)}, "mask of signal 't'"),
        (2, {"loss": np.zeros(2)}, {"loss": np.ones(2, bool)}, "padded signal"),
        (2, {"loss": np.zeros(2)}, {"other": np.ones((2, 2), bool)}, "not one of the signals"),
    ],
)
def test_signals_reject_malformed_input_with_a_clear_error(n, values, masks, match):
    with pytest.raises(DataError, match=match):
        Signals(n, values, masks)


def test_unknown_signal_names_the_signals_there_are():
    sig = Signals(1, {"loss": [0.0], "entropy": [1.0]})
    with pytest.raises(DataError, match=r"no signal 'los'.*loss, entropy.*did you mean 'loss'"):
        sig["los"]


# -- the classifier kind -----------------------------------------------------------------


def _outputs(kind, seed=0, n=60, c=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * 3.0
    if kind == "saturated":  # margins of 40-200: probabilities round to exactly 1
        logits[np.arange(n), y] += rng.uniform(40, 200, n)
        return ModelOutputs.from_logits(logits, y)
    if kind == "logits":
        return ModelOutputs.from_logits(logits, y)
    probs = ModelOutputs.from_logits(logits, y).probs
    if kind == "float32":  # a float32 softmax, as torch targets without logits give
        return ModelOutputs(probs=probs.astype(np.float32), y=y)
    if kind == "votes":  # a random forest's vote shares (ties that must stay ties)
        votes = rng.multinomial(10, np.full(c, 1 / c), n) / 10.0
        return ModelOutputs(probs=votes, y=y)
    return ModelOutputs(probs=probs, y=y)


KINDS_OF_OUTPUTS = ["logits", "probs", "saturated", "float32", "votes"]


def test_classifier_kind_is_a_target_kind_over_labeled_records():
    assert isinstance(CLASSIFIER, TargetKind)
    assert CLASSIFIER.signal_names == tuple(SIGNALS)
    records = LabeledRecords(np.zeros((5, 2)), np.arange(5) % 2)
    assert isinstance(records, Records) and len(records) == 5
    assert len(records[np.array([0, 3])]) == 2
    with pytest.raises(DataError, match="mismatched lengths"):
        LabeledRecords(np.zeros((5, 2)), np.zeros(4))


@pytest.mark.parametrize("kind", KINDS_OF_OUTPUTS)
def test_classifier_signals_are_the_signal_functions_bit_for_bit(kind):
    out = _outputs(kind)
    sig = CLASSIFIER.signals(out)
    assert sig.names == tuple(SIGNALS) and sig.n == out.n
    for name, fn in SIGNALS.items():
        assert np.array_equal(sig[name], fn(out)), name
    assert CLASSIFIER.signals(out, ["entropy"]).names == ("entropy",)


def test_classifier_kind_rejects_unknown_names_and_other_answers():
    out = _outputs("logits")
    with pytest.raises(DataError, match="no signal 'los'.*did you mean 'loss'"):
        CLASSIFIER.signals(out, ["los"])
    with pytest.raises(DataError, match="sequence of names"):
        CLASSIFIER.signals(out, "loss")
    with pytest.raises(DataError, match="repeated"):
        CLASSIFIER.signals(out, ["loss", "loss"])
    with pytest.raises(DataError, match="from ModelOutputs, got ndarray"):
        CLASSIFIER.signals(out.probs)


def test_measure_queries_the_target_once_per_record():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    logits = rng.normal(size=(20, 4))
    target = PrecomputedTarget(x, logits=logits)
    records = LabeledRecords(x[5:], rng.integers(0, 4, 15))
    sig = measure(CLASSIFIER, target, records, ["loss", "scaled_logit"])
    assert target.query_count == 15
    direct = target.outputs(records.x, records.y)
    assert np.array_equal(sig["loss"], loss(direct))
    with pytest.raises(DataError, match="did you mean 'loss'"):
        measure(CLASSIFIER, target, records, ["loss_"])


def test_measure_catches_a_kind_that_loses_records():
    class Broken:
        name = "broken"
        signal_names = ("loss",)

        def query(self, target, records):
            return records

        def signals(self, answers, names=None):
            return Signals(len(answers) - 1, {"loss": np.zeros(len(answers) - 1)})

    with pytest.raises(DataError, match="broken kind returned signals of 2 records for 3"):
        measure(Broken(), None, np.arange(3))


# -- the generic threshold rule ----------------------------------------------------------


def test_signal_threshold_scores_high_or_minus_low_as_new_arrays():
    sig = Signals(3, {"d": [3.0, 1.0, 2.0], "t": np.zeros((3, 2))})
    high = SignalThreshold("d", member_if="high").score_samples(sig)
    low = SignalThreshold("d", member_if="low").score_samples(sig)
    assert np.array_equal(high, [3.0, 1.0, 2.0]) and np.array_equal(low, [-3.0, -1.0, -2.0])
    high[0] = 7.0  # the scores are the caller's, the signals unchanged
    assert sig["d"][0] == 3.0
    with pytest.raises(DataError, match="reduce it first"):
        SignalThreshold("t", member_if="low").score_samples(sig)
    with pytest.raises(DataError, match="member_if must be 'high' or 'low'"):
        SignalThreshold("d", member_if="up")


# -- the ported attacks keep every bit ---------------------------------------------------

# The original scoring of each attack (its _score before the port), on the signal functions.
ORIGINAL = {
    "gap": lambda out: correctness(out),
    "loss": lambda out: -loss(out),
    "confidence": lambda out: max_confidence_log_odds(out),
    "entropy": lambda out: -entropy(out),
    "modified_entropy": lambda out: -modified_entropy(out),
}
PORTED = {
    "gap": GapAttack,
    "loss": LossAttack,
    "confidence": ConfidenceAttack,
    "entropy": EntropyAttack,
    "modified_entropy": ModifiedEntropyAttack,
}


@pytest.mark.parametrize("kind", KINDS_OF_OUTPUTS)
@pytest.mark.parametrize("name", sorted(ORIGINAL))
def test_ported_attacks_score_exactly_as_before(name, kind):
    out = _outputs(kind, seed=3)
    attack = make_attack(name).fit(AttackerKnowledge(num_classes=out.num_classes))
    expected = np.asarray(ORIGINAL[name](out), dtype=np.float64)
    scores = attack.score_samples(out)
    assert scores.dtype == np.float64 and np.array_equal(scores, expected)
    # the kind-based entry point: the attack's rule on the classifier kind's signals
    rule = PORTED[name].signal_rule
    assert np.array_equal(rule.score_samples(CLASSIFIER.signals(out, rule.names)), expected)
    assert np.array_equal(rule.score_answers(CLASSIFIER, out), expected)
    assert out.probs.flags.writeable  # the outputs were not frozen by the signals


@pytest.mark.parametrize("percentile", [0.0, 50.0, 90.0, 100.0])
@pytest.mark.parametrize("kind", KINDS_OF_OUTPUTS)
def test_confidence_threshold_from_random_queries_is_unchanged(kind, percentile):
    rand = _outputs(kind, seed=4, n=101)
    k = AttackerKnowledge(num_classes=rand.num_classes, random_queries=rand)
    attack = make_attack("confidence", percentile=percentile).fit(k)
    expected = float(probability_log_odds(np.percentile(max_confidence(rand), percentile)))
    assert attack.threshold_ == expected


def test_kinds_import_without_torch():
    """Attacks import the kinds; both stay NumPy-only at import time (a fresh interpreter)."""
    code = "import sys, miaudit.kinds; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
