"""The defense-aware attacker for training-time defenses that need the defender's
reference records (distillation, adversarial regularisation, MMD + mix-up): each reference
model trains with the defense and a simulated defender set of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from miaudit.defenses import DefenseData, make_defense
from miaudit.pipeline import run_config
from miaudit.reference import TrainRecipe, random_plan, train_references
from miaudit.reference._threads import torch_threads

PARAMS = {"hidden": (16,), "epochs": 3, "batch_size": 32, "lr": 0.01}
DISTILL = {"name": "distillation", "temperature": 2.0, "reference_size": 40}


def _problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


def test_reference_models_get_defender_records_from_the_defender_pool() -> None:
    x, y = _problem(120, 0)
    x_pop, y_pop = _problem(90, 1)
    plan = random_plan(len(y), 2, seed=5)
    recipe = TrainRecipe(model="mlp", params=PARAMS, num_classes=3, defense=DISTILL)
    run = train_references(
        plan, x, y, recipe, queries={"a": (x, y)}, progress=False, defender_pool=(x_pop, y_pop)
    )
    defense = make_defense("distillation", temperature=2.0)
    for j in range(plan.num_models):
        d = recipe.defender_indices(plan.out_indices[j], plan.seeds[j], defender_pool_size=90)
        assert d is not None and d.size == 40 and d.max() < 90  # reference_size of the pool
        tr = plan.train_indices[j]
        # The engine's one thread per model: the same computation, bit for bit (another
        # thread count may split float32 reductions differently).
        with torch_threads(1):
            by_hand = defense.train(
                "mlp",
                dict(PARAMS),
                x[tr],
                y[tr],
                num_classes=3,
                seed=int(plan.seeds[j]),
                data=DefenseData(reference=(x_pop[d], y_pop[d])),
            )
            probs = by_hand.predict_proba(x)
        np.testing.assert_array_equal(run.outputs[j]["a"].probs, probs)
    # without a pool the defender records are the model's out set (indices into the pool)
    d = recipe.defender_indices(plan.out_indices[0], plan.seeds[0])
    assert d is not None and set(d) <= set(plan.out_indices[0]) and d.size == 40
    # defenses that need no defender data get none
    plain = TrainRecipe(model="mlp", params=PARAMS, num_classes=3, defense={"name": "l2"})
    assert plain.defender_indices(plan.out_indices[0], 0, defender_pool_size=90) is None


@pytest.mark.parametrize("defense", ["distillation", "adversarial_regularization", "mmd_mixup"])
def test_config_run_with_reference_attacks_against_defenses_needing_reference_data(
    defense: str, tmp_path: Path
) -> None:
    cfg = {
        "seed": 0,
        "dataset": {"name": "digits"},
        "split": {"members": 200, "nonmembers": 200},
        "target": {
            "model": "mlp",
            "hidden": [32],
            "epochs": 4,
            "batch_size": 32,
            "lr": 0.005,
            "defense": {"name": defense, "reference_size": 150},
        },
        "evaluation": {"bootstrap": 10},
        "attacks": [{"name": "rmia", "num_models": 2}, "loss"],
        "reference": {"num_models": 2, "cache_dir": str(tmp_path / "c")},
    }
    result = run_config(cfg, progress=False)
    assert result.attack("rmia").error is None, result.attack("rmia").error
    assert result.reference_defense_aware is True
    metas = [p.read_text() for p in (tmp_path / "c").glob("??/*/meta.json")]
    assert len(metas) == 2 and all('"n_defender": 150' in m for m in metas)
