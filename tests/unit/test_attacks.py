"""Attacks give known answers on constructed data."""

import numpy as np
import pytest

from miaudit.attacks import AttackerKnowledge, make_attack
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, softmax


def outputs_with_accuracy(n, accuracy, rng, c=3):
    """Outputs whose argmax is correct for exactly round(accuracy * n) records."""
    y = rng.integers(0, c, n)
    correct = np.zeros(n, bool)
    correct[: round(accuracy * n)] = True
    rng.shuffle(correct)
    pred = np.where(correct, y, (y + 1) % c)
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), pred] += 5.0
    return ModelOutputs.from_logits(logits, y)


@pytest.mark.parametrize("train_acc,test_acc", [(1.0, 0.7), (0.9, 0.85), (0.62, 0.64)])
def test_gap_attack_accuracy_equals_yeom_formula(train_acc, test_acc):
    rng = np.random.default_rng(0)
    n = 500
    out_in = outputs_with_accuracy(n, train_acc, rng)
    out_out = outputs_with_accuracy(n, test_acc, rng)
    attack = make_attack("gap").fit(AttackerKnowledge(num_classes=3))
    s_in, s_out = attack.score_samples(out_in), attack.score_samples(out_out)
    t = attack.threshold_
    accuracy = 0.5 * (np.mean(s_in >= t) + np.mean(s_out < t))
    assert accuracy == pytest.approx(0.5 * (train_acc + 1 - test_acc), abs=1e-12)


def test_loss_attack_is_minus_cross_entropy():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]])
    out = ModelOutputs.from_logits(logits, np.array([0, 0, 1]))
    scores = make_attack("loss").fit(AttackerKnowledge(num_classes=2)).score_samples(out)
    expected = np.log(softmax(logits)[np.arange(3), [0, 0, 1]])
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_confidence_threshold_from_random_queries_percentile():
    probs = np.array([[0.5, 0.5], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.1, 0.9]])
    rand = ModelOutputs(probs=probs, y=probs.argmax(1))
    k = AttackerKnowledge(num_classes=2, random_queries=rand)
    # The threshold is that percentile of the max posteriors, as log-odds like the scores.
    attack = make_attack("confidence", percentile=50).fit(k)
    assert attack.threshold_ == pytest.approx(np.log(0.7 / 0.3))
    attack = make_attack("confidence", percentile=100).fit(k)
    assert attack.threshold_ == pytest.approx(np.log(0.9 / 0.1))
    assert make_attack("confidence").fit(AttackerKnowledge(num_classes=2)).threshold_ is None
    with pytest.raises(ConfigError, match="percentile"):
        make_attack("confidence", percentile=120).fit(k)


def test_entropy_attacks_order():
    # A confident correct row, a uniform row, a confident wrong row.
    probs = np.array([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3], [0.01, 0.98, 0.01]])
    out = ModelOutputs(probs=probs, y=np.array([0, 0, 0]))
    k = AttackerKnowledge(num_classes=3)
    ent = make_attack("entropy").fit(k).score_samples(out)
    mentr = make_attack("modified_entropy").fit(k).score_samples(out)
    # entropy ignores the label: the confident wrong row looks like a member
    assert ent[0] == pytest.approx(ent[2]) and ent[0] > ent[1]
    # modified entropy penalises the confident wrong prediction below the uniform one
    assert mentr[0] > mentr[1] > mentr[2]


def test_wrong_number_of_classes_is_a_clear_error():
    out = ModelOutputs(probs=softmax(np.zeros((2, 3))), y=np.array([0, 1]))
    attack = make_attack("loss").fit(AttackerKnowledge(num_classes=5))
    with pytest.raises(DataError, match="3 classes"):
        attack.score_samples(out)
