"""The defense-aware attacker for inference-time defenses (issue 5): every reference/shadow
model's outputs are produced through the target's defense (MemGuard, top-k, rounding)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from miaudit.defenses import DefenseData, make_defense
from miaudit.defenses.output import round_probs, top_k
from miaudit.errors import ConfigError
from miaudit.pipeline import ReferenceSettings, run_config
from miaudit.pipeline.api import reference_trainer
from miaudit.reference import ReferenceRun, TrainRecipe, _cache, shadow_plan, train_references
from miaudit.reference._threads import torch_threads
from miaudit.targets import TorchTarget

PARAMS = {"hidden": (32,), "epochs": 5, "batch_size": 32, "lr": 0.01}
MEMGUARD = {"name": "memguard", "budget": 1.0, "max_iter": 30, "defender_steps": 60}


def _problem(n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.3) + (x[:, 2] > 0.8)
    return x, y


def _recipe(defense: dict | None = None) -> TrainRecipe:
    return TrainRecipe(model="mlp", params=PARAMS, num_classes=4, defense=defense)


def _run(defense: dict | None, executor: str = "serial", **kwargs: object) -> ReferenceRun:
    x, y = _problem()
    plan = shadow_plan(len(y), 2, train_size=80, seed=3)
    return train_references(
        plan,
        x,
        y,
        _recipe(defense),
        queries={"pool": (x, y)},
        executor=executor,
        workers=2,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def plain() -> ReferenceRun:
    return _run(None)


@pytest.fixture(scope="module")
def guarded() -> ReferenceRun:
    return _run(MEMGUARD)


def test_memguard_changes_reference_outputs_but_not_their_labels(
    plain: ReferenceRun, guarded: ReferenceRun
) -> None:
    for p, g in zip(plain.outputs, guarded.outputs, strict=True):
        assert not np.allclose(p["pool"].probs, g["pool"].probs)
        np.testing.assert_array_equal(p["pool"].predicted, g["pool"].predicted)
        np.testing.assert_allclose(g["pool"].probs.sum(axis=1), 1.0, atol=1e-9)
        assert g["pool"].logits is None  # a wrapped model never reveals its raw scores


def test_memguard_reference_equals_the_defense_applied_by_hand(guarded: ReferenceRun) -> None:
    """Model j is wrapped with its own training set and its plan out set as the defender's
    non-members, with its own seed and the defense's parameters."""
    x, y = _problem()
    plan = guarded.plan
    recipe = _recipe()
    defense = make_defense("memguard", **{k: v for k, v in MEMGUARD.items() if k != "name"})
    for j in range(plan.num_models):
        tr, out, seed = plan.train_indices[j], plan.out_indices[j], plan.seeds[j]
        # The engine's one thread per model: the same computation, bit for bit (another
        # thread count may split float32 reductions differently).
        with torch_threads(1):
            model = recipe.train(x[tr], y[tr], seed)
            wrapped = defense.wrap(
                model, train=(x[tr], y[tr]), seed=seed, data=DefenseData(reference=(x[out], y[out]))
            )
            by_hand = wrapped.predict_proba(x)
        np.testing.assert_array_equal(guarded.outputs[j]["pool"].probs, by_hand)


@pytest.mark.parametrize(
    ("defense", "transform"),
    [
        ({"name": "top_k", "k": 2}, lambda p: top_k(p, 2)),
        ({"name": "rounding", "decimals": 1}, lambda p: round_probs(p, 1)),
    ],
)
def test_output_defenses_transform_the_undefended_reference_outputs(
    plain: ReferenceRun, defense: dict, transform
) -> None:
    run = _run(defense)
    for p, d in zip(plain.outputs, run.outputs, strict=True):
        np.testing.assert_array_equal(d["pool"].probs, transform(p["pool"].probs))
        assert not np.array_equal(d["pool"].probs, p["pool"].probs)


def test_process_and_ray_executors_equal_serial(guarded: ReferenceRun, tmp_path: Path) -> None:
    """Defended recipes are pickled to workers; each worker wraps its own model."""
    runs = [_run(MEMGUARD, "process", cache_dir=tmp_path)]
    pytest.importorskip("ray")
    runs.append(_run(MEMGUARD, "ray"))
    for run in runs:
        for a, b in zip(guarded.outputs, run.outputs, strict=True):
            np.testing.assert_array_equal(a["pool"].probs, b["pool"].probs)
        np.testing.assert_array_equal(run.train_loss, guarded.train_loss)
    # the process run filled the cache: a second run reads the defended outputs back
    again = _run(MEMGUARD, cache_dir=tmp_path)
    assert again.cached.all()
    for a, b in zip(guarded.outputs, again.outputs, strict=True):
        np.testing.assert_array_equal(a["pool"].probs, b["pool"].probs)


def test_defended_and_undefended_models_never_share_a_cache_entry(tmp_path: Path) -> None:
    plain = _run(None, cache_dir=tmp_path)
    top = _run({"name": "top_k", "k": 2}, cache_dir=tmp_path)
    assert not plain.cached.any() and not top.cached.any()
    assert not _run({"name": "top_k", "k": 1}, cache_dir=tmp_path).cached.any()
    assert _run({"name": "top_k", "k": 2}, cache_dir=tmp_path).cached.all()
    assert _run(None, cache_dir=tmp_path).cached.all()
    metas = [json.loads(p.read_text()) for p in tmp_path.glob("??/*/meta.json")]
    assert len(metas) == 6
    assert sum('"top_k"' in m["recipe"] for m in metas) == 4
    assert all(m["has_weights"] == ('"defense"' not in m["recipe"]) for m in metas)


#: the fingerprint of this recipe, computed with the code before inference-time defenses
OLD_FINGERPRINT = (
    '{"model":"mlp","num_classes":4,"params":{"activation":"relu","batch_size":64,'
    '"dropout":0.0,"epochs":3,"hidden":[16],"lr":0.001,"momentum":0.9,"optimizer":"adam",'
    '"weight_decay":0.0}}'
)


def _old_model_key(x: np.ndarray, y: np.ndarray, fingerprint: str, seed: int) -> str:
    """model_key as it was before defenses entered it (a copy of the old code)."""
    h = hashlib.sha256(b"miaudit-reference-model-v1")
    for a in (np.ascontiguousarray(x), np.ascontiguousarray(y, dtype=np.int64)):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    h.update(fingerprint.encode())
    h.update(str(seed).encode())
    h.update(json.dumps(_cache.versions(), sort_keys=True).encode())
    return h.hexdigest()


def test_cache_keys_of_undefended_recipes_are_unchanged() -> None:
    base = TrainRecipe(model="mlp", params={"hidden": (16,), "epochs": 3}, num_classes=4)
    assert base.fingerprint() == OLD_FINGERPRINT
    x, y = _problem(20)
    assert _cache.model_key(x, y, OLD_FINGERPRINT, 7) == _old_model_key(x, y, OLD_FINGERPRINT, 7)
    keys = {
        _cache.model_key(x, y, base.fingerprint(), 7),
        _cache.model_key(x, y, base.fingerprint(), 7, defender=(x[:5], y[:5])),
        _cache.model_key(x, y, base.fingerprint(), 7, defender=(x[5:10], y[5:10])),
    }
    assert len(keys) == 3
    prints = {
        base.fingerprint(),
        TrainRecipe(base.model, base.params, 4, defense={"name": "top_k", "k": 1}).fingerprint(),
        TrainRecipe(base.model, base.params, 4, defense={"name": "top_k", "k": 2}).fingerprint(),
        TrainRecipe(base.model, base.params, 4, defense=MEMGUARD).fingerprint(),
        TrainRecipe(
            base.model, base.params, 4, defense={**MEMGUARD, "reference_size": 10}
        ).fingerprint(),
    }
    assert len(prints) == 5


def test_defender_records_are_the_out_set_or_a_seeded_subset_of_it() -> None:
    out = np.arange(10, 60, dtype=np.int64)
    assert _recipe().defender_indices(out, 1) is None
    assert _recipe({"name": "l2", "weight_decay": 1e-3}).defender_indices(out, 1) is None
    np.testing.assert_array_equal(_recipe(MEMGUARD).defender_indices(out, 1), out)
    sized = _recipe({**MEMGUARD, "reference_size": 20})
    a, b = sized.defender_indices(out, 1), sized.defender_indices(out, 1)
    np.testing.assert_array_equal(a, b)
    assert a.size == 20 and np.isin(a, out).all() and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sized.defender_indices(out, 2))
    big = _recipe({**MEMGUARD, "reference_size": 500})  # more than there are: all of them
    np.testing.assert_array_equal(big.defender_indices(out, 1), out)


def _sk_train(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=300, random_state=seed).fit(x, y)


def test_recipe_errors_and_other_recipes() -> None:
    with pytest.raises(ConfigError, match="bad parameters for defense 'memguard'"):
        _recipe({"name": "memguard", "budgett": 1.0})
    with pytest.raises(ConfigError, match="reference_size"):
        _recipe({**MEMGUARD, "reference_size": -1})
    with pytest.raises(ConfigError, match="training-time defense applies to a built-in"):
        TrainRecipe(train_fn=_sk_train, defense={"name": "l2", "weight_decay": 0.1})
    with pytest.raises(ConfigError, match="batched.*'top_k'"):
        _run({"name": "top_k", "k": 1}, "batched")
    x, y = _problem()
    recipe = TrainRecipe(train_fn=_sk_train, num_classes=4, defense={"name": "top_k", "k": 1})
    probs = recipe.train(x[:100], y[:100], 0).predict_proba(x)
    assert set(np.unique(probs)) == {0.0, 1.0}  # any recipe can be wrapped
    with pytest.raises(ConfigError, match="memguard needs reference non-member records"):
        _recipe(MEMGUARD).train(x[:100], y[:100], 0)
    with pytest.raises(ConfigError, match="no probabilities"):
        _recipe({"name": "labels_only"}).train(x[:100], y[:100], 0)


def test_attacks_own_shadows_stay_unwrapped() -> None:
    """knowledge.train_model (label-only and white-box attacks' shadows) reads labels, which
    inference-time defenses keep, or parameters, which a wrapped model hides."""
    x, y = _problem()
    settings = ReferenceSettings(model="mlp", params=dict(PARAMS), defense=MEMGUARD)
    model = reference_trainer(settings, 4)(x[:100], y[:100], 0)
    assert isinstance(model, TorchTarget) and "parameters" in model.capabilities


def test_a_user_train_fn_recipe_gets_the_inference_defense_too() -> None:
    from miaudit.pipeline.references import _recipe as settings_recipe

    top = {"name": "top_k", "k": 1}
    recipe = settings_recipe(ReferenceSettings(train_fn=_sk_train, defense=top), 4)
    assert recipe.defense.to_dict() == top and recipe.train_fn is _sk_train


CONFIG = {
    "seed": 0,
    "dataset": {"name": "digits"},
    "split": {"members": 300, "nonmembers": 300},
    "target": {
        "model": "mlp",
        "hidden": [64],
        "epochs": 10,
        "batch_size": 32,
        "lr": 0.003,
        "defense": {**MEMGUARD, "reference_size": 200},
    },
    "evaluation": {"bootstrap": 10, "random_queries": 50},
    "attacks": ["ml_leaks_1", {"name": "shokri", "num_models": 1}, "gap"],
    "reference": {"num_models": 1},
}


@pytest.mark.parametrize("aware", [True, False])
def test_config_run_with_memguard_and_shadow_attacks(aware: bool, tmp_path: Path) -> None:
    cfg = {**CONFIG, "reference": {**CONFIG["reference"], "cache_dir": str(tmp_path / "c")}}
    cfg["reference"]["defense_aware"] = aware
    result = run_config(cfg, output=tmp_path / "out", progress=False)
    for name in ("ml_leaks_1", "shokri", "gap"):
        assert result.attack(name).error is None, result.attack(name).error
    assert result.reference_defense_aware is aware
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["reference_defense_aware"] is aware
    assert data["target"]["defense"]["name"] == "memguard"
    metas = [p.read_text() for p in (tmp_path / "c").glob("??/*/meta.json")]
    assert metas  # the shadow model(s) of ml_leaks_1 and shokri
    assert all(("memguard" in m) is aware for m in metas)


def test_config_run_defense_awareness_changes_the_shadow_attacks() -> None:
    aware = run_config(CONFIG, progress=False)
    naive = run_config(
        {**CONFIG, "reference": {**CONFIG["reference"], "defense_aware": False}}, progress=False
    )
    np.testing.assert_array_equal(aware.attack("gap").scores, naive.attack("gap").scores)
    for name in ("ml_leaks_1", "shokri"):
        assert not np.array_equal(aware.attack(name).scores, naive.attack(name).scores)
