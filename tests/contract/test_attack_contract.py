"""The contract every registered attack must keep (DESIGN.md, "Registries")."""

import copy

import numpy as np
import pytest

from miaudit.attacks import ATTACKS, AttackerKnowledge, make_attack
from miaudit.errors import NotFittedError, UnknownNameError
from miaudit.outputs import ModelOutputs, softmax

C = 4


def separable_outputs(n=200, seed=0):
    """Members: confident and correct. Non-members: diffuse and often wrong."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    member = np.arange(n) < n // 2
    logits = rng.normal(size=(n, C))
    logits[np.arange(n), y] += np.where(member, 8.0, -1.0)
    return ModelOutputs.from_logits(logits, y), member


def knowledge(seed=0):
    out, _ = separable_outputs(100, seed=seed + 1)
    rng = np.random.default_rng(seed)
    rand = softmax(rng.normal(size=(50, C)))
    return AttackerKnowledge(
        num_classes=C,
        population=out,
        random_queries=ModelOutputs(probs=rand, y=rand.argmax(1)),
        seed=seed,
    )


ALL = ATTACKS.names()


@pytest.mark.parametrize("name", ALL)
def test_fit_returns_self_and_scores_are_finite(name):
    attack = make_attack(name)
    assert attack.fit(knowledge()) is attack
    out, _ = separable_outputs()
    scores = attack.score_samples(out)
    assert scores.dtype == np.float64 and scores.shape == (out.n,)
    assert np.all(np.isfinite(scores))


@pytest.mark.parametrize("name", ALL)
def test_inputs_not_mutated(name):
    out, _ = separable_outputs()
    k = knowledge()
    before = copy.deepcopy((out.probs, out.y, out.logits, k.population.probs))
    attack = make_attack(name).fit(k)
    attack.score_samples(out)
    after = (out.probs, out.y, out.logits, k.population.probs)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_deterministic(name):
    out, _ = separable_outputs()
    s1 = make_attack(name).fit(knowledge()).score_samples(out)
    s2 = make_attack(name).fit(knowledge()).score_samples(out)
    np.testing.assert_array_equal(s1, s2)


@pytest.mark.parametrize("name", ALL)
def test_separable_data_scored_the_right_way_round(name):
    out, member = separable_outputs()
    scores = make_attack(name).fit(knowledge()).score_samples(out)
    assert scores[member].mean() > scores[~member].mean()
    # every member at least as likely as the median non-member
    assert np.mean(scores[member] >= np.median(scores[~member])) > 0.95


@pytest.mark.parametrize("name", ALL)
def test_clear_error_before_fit(name):
    out, _ = separable_outputs()
    with pytest.raises(NotFittedError, match="not fitted"):
        make_attack(name).score_samples(out)


@pytest.mark.parametrize("name", ALL)
def test_declares_threat_model(name):
    tm = ATTACKS.get(name).threat_model
    assert tm.knowledge in {"black-box probabilities", "black-box labels", "white-box"}
    assert tm.paper


def test_constructor_only_stores_parameters():
    for name in ALL:
        attack = make_attack(name)
        assert not any(k.endswith("_") for k in vars(attack)), name


def test_unknown_attack_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid names: .*loss"):
        make_attack("los")
