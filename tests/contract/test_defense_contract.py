"""The contract every registered defense keeps: it trains (or wraps), keeps the output
shape, is deterministic with a seed, and reports its name and parameters."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.defenses import DEFENSES, DefenseData, make_defense
from miaudit.models import train_model

C = 3
PARAMS = {"hidden": [32], "epochs": 4, "batch_size": 16, "lr": 0.01}
# parameters some defenses need; small settings keep the suite fast
DEFENSE_PARAMS = {
    "dp_sgd": {"noise_multiplier": 1.0},
    "memguard": {"max_iter": 20, "defender_steps": 50},
    "dimensionality_reduction": {"n_components": 4},
    "top_k": {"k": 2},
}


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return (x[:120], y[:120]), (x[120:200], y[120:200]), (x[200:], y[200:])


def defended(name, problem, seed=0):
    train, reference, _ = problem
    defense = make_defense(name, **DEFENSE_PARAMS.get(name, {}))
    data = DefenseData(reference=reference)
    if defense.kind == "training":
        target = defense.train("mlp", dict(PARAMS), *train, num_classes=C, seed=seed, data=data)
    else:
        base = train_model("mlp", PARAMS, *train, num_classes=C, seed=seed)
        target = defense.wrap(base, train=train, seed=seed, data=data)
    return defense, target


@pytest.mark.parametrize("name", DEFENSES.names())
def test_defense_contract(name, problem):
    _, _, (x_test, y_test) = problem
    defense, target = defended(name, problem)
    assert target.num_classes == C
    labels = target.predict_labels(x_test)
    assert labels.shape == (len(y_test),) and set(np.unique(labels)) <= set(range(C))
    if "probabilities" in target.capabilities:
        probs = target.predict_proba(x_test)
        assert probs.shape == (len(y_test), C)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
        _, again = defended(name, problem)
        np.testing.assert_array_equal(again.predict_proba(x_test), probs)
    report = defense.report()
    assert report["name"] == name and report["kind"] in ("training", "inference")
    assert report["paper"] and isinstance(report["params"], dict)


@pytest.mark.parametrize(
    "name", [n for n in DEFENSES.names() if DEFENSES.get(n).kind == "inference"]
)
def test_inference_defenses_keep_the_predicted_labels(name, problem):
    train, _, (x_test, _) = problem
    base = train_model("mlp", PARAMS, *train, num_classes=C, seed=0)
    _, target = defended(name, problem)
    np.testing.assert_array_equal(target.predict_labels(x_test), base.predict_labels(x_test))
