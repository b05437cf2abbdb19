"""train_references: outputs, cache (content-addressed, safetensors), train_fn recipes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from miaudit.errors import ConfigError, DataError
from miaudit.models import MLP, TrainConfig, train_torch
from miaudit.outputs import ReferenceOutputs
from miaudit.reference import (
    ReferenceRun,
    TrainRecipe,
    random_plan,
    shadow_plan,
    train_references,
)
from miaudit.reference import _recipe as recipe_module

RECIPE = TrainRecipe(model="mlp", params={"hidden": (16,), "epochs": 3}, num_classes=3)


def _data(n: int = 120, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def _logits(run: ReferenceRun, name: str) -> np.ndarray:
    return np.stack([o[name].logits for o in run.outputs])


def _sk_train(x: np.ndarray, y: np.ndarray, seed: int) -> LogisticRegression:
    return LogisticRegression(max_iter=500, random_state=seed).fit(x, y)


def _torch_train(x: np.ndarray, y: np.ndarray, seed: int) -> torch.nn.Module:
    module = MLP(x.shape[1], 3, hidden=(8,))
    return train_torch(module, x, y, TrainConfig(epochs=2, batch_size=32, seed=seed))


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Train comparisons with the executors' default of one torch thread per model."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_serial_sets_and_restores_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    seen = []
    original = recipe_module.train_model

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recipe_module, "train_model", spy)
    before = torch.get_num_threads()
    plan = random_plan(len(y), 2, seed=1)
    train_references(plan, x, y, RECIPE, queries={"all": (x, y)}, progress=False)
    train_references(
        plan, x, y, RECIPE, queries={"all": (x, y)}, progress=False, threads_per_model=2
    )
    assert seen == [1, 1, 2, 2]
    assert torch.get_num_threads() == before


def test_outputs_match_direct_training() -> None:
    x, y = _data()
    plan = random_plan(len(y), 2, seed=1)
    run = train_references(plan, x, y, RECIPE, queries={"all": (x, y)}, progress=False)
    assert len(run.outputs) == 2 and not run.cached.any()
    for j in range(2):
        idx = plan.train_indices[j]
        # Queried with one thread too: the engine's outputs are then the same computation,
        # bit for bit (another thread count may block the float32 matmuls differently).
        with _one_thread():
            target = RECIPE.train(x[idx], y[idx], plan.seeds[j])
            logits = target.predict_logits(x)
            expected = target.loss(x[idx], y[idx]).mean()
        np.testing.assert_array_equal(run.outputs[j]["all"].logits, logits)
        assert run.train_loss[j] == pytest.approx(expected, rel=1e-12)
    # 6 * (8*16 + 16 + 16*3 + 3) params * 60 samples * 3 epochs * 2 models
    assert run.train_flops == pytest.approx(6 * 195 * 60 * 3 * 2)
    assert run.seconds > 0


def test_cache_hit_trains_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    plan = random_plan(len(y), 3, seed=2)
    queries = {"all": (x, y), "head": (x[:10], y[:10])}
    first = train_references(
        plan, x, y, RECIPE, queries=queries, cache_dir=tmp_path, progress=False
    )
    entries = sorted(p for p in tmp_path.glob("*/*") if p.parent.name != ".tmp")
    assert len(entries) == 3
    for e in entries:
        assert e.parent.name == e.name[:2]
        assert {p.name for p in e.iterdir()} >= {"meta.json", "model.safetensors"}
        assert len(list(e.glob("outputs_*.npz"))) == 2
        meta = json.loads((e / "meta.json").read_text())
        assert meta["has_weights"] and "torch" in meta["versions"]

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached model was retrained")

    monkeypatch.setattr(recipe_module, "train_model", no_training)
    second = train_references(
        plan, x, y, RECIPE, queries=queries, cache_dir=tmp_path, progress=False
    )
    assert second.cached.all() and second.train_flops == 0
    np.testing.assert_array_equal(second.train_loss, first.train_loss)
    for name in queries:
        np.testing.assert_array_equal(_logits(second, name), _logits(first, name))
        for a, b in zip(first.outputs, second.outputs, strict=True):
            np.testing.assert_array_equal(a[name].probs, b[name].probs)

    # a new query set: recomputed from the safetensors weights, still without training
    xq, yq = _data(30, seed=7)
    third = train_references(
        plan,
        x,
        y,
        RECIPE,
        queries={**queries, "new": (xq, yq)},
        cache_dir=tmp_path,
        progress=False,
    )
    assert third.cached.all()
    monkeypatch.undo()
    fresh = train_references(plan, x, y, RECIPE, queries={"new": (xq, yq)}, progress=False)
    np.testing.assert_array_equal(_logits(third, "new"), _logits(fresh, "new"))
    assert all(len(list(e.glob("outputs_*.npz"))) == 3 for e in entries)


def test_cache_key_depends_on_data_recipe_and_seed(tmp_path: Path) -> None:
    x, y = _data()
    plan = random_plan(len(y), 2, seed=2)
    q = {"all": (x, y)}
    train_references(plan, x, y, RECIPE, queries=q, cache_dir=tmp_path, progress=False)
    other = TrainRecipe(model="mlp", params={"hidden": (16,), "epochs": 4}, num_classes=3)
    run = train_references(plan, x, y, other, queries=q, cache_dir=tmp_path, progress=False)
    assert not run.cached.any()
    x2 = x.copy()
    x2[plan.train_indices[0][0]] += 1.0  # only model 0 trains on the changed record
    run = train_references(plan, x2, y, RECIPE, queries=q, cache_dir=tmp_path, progress=False)
    assert run.cached.tolist() == [False, True]
    reseeded = random_plan(len(y), 2, seed=3)
    run = train_references(reseeded, x, y, RECIPE, queries=q, cache_dir=tmp_path, progress=False)
    assert not run.cached.any()


def test_augmented_views() -> None:
    x, y = _data()
    plan = random_plan(len(y), 2, seed=0)

    def augment(a: np.ndarray) -> list[np.ndarray]:
        return [a, a + np.float32(0.05)]

    run = train_references(
        plan, x, y, RECIPE, queries={"all": (x, y)}, augment=augment, progress=False
    )
    out = run.outputs[0]["all"]
    assert out.augmented is not None and len(out.augmented) == 2
    np.testing.assert_array_equal(out.augmented[0].logits, out.logits)
    assert not np.array_equal(out.augmented[1].logits, out.logits)


def test_sklearn_train_fn_and_cache(tmp_path: Path) -> None:
    x, y = _data()
    plan = shadow_plan(len(y), 2, train_size=40, seed=0)
    recipe = TrainRecipe(train_fn=_sk_train, num_classes=3)
    assert "_sk_train" in recipe.fingerprint()
    q = {"pool": (x, y)}
    run = train_references(plan, x, y, recipe, queries=q, cache_dir=tmp_path, progress=False)
    assert run.outputs[0]["pool"].logits is None and run.train_flops is None
    idx = plan.train_indices[1]
    expected = _sk_train(x[idx], y[idx], plan.seeds[1]).predict_proba(x)
    np.testing.assert_array_equal(run.outputs[1]["pool"].probs, expected)
    entries = [p for p in tmp_path.glob("*/*") if p.parent.name != ".tmp"]
    assert all(not (e / "model.safetensors").exists() for e in entries)
    again = train_references(plan, x, y, recipe, queries=q, cache_dir=tmp_path, progress=False)
    assert again.cached.all()
    # no weights for sklearn: a new query set retrains (deterministically)
    more = train_references(
        plan,
        x,
        y,
        recipe,
        queries={**q, "head": (x[:5], y[:5])},
        cache_dir=tmp_path,
        progress=False,
    )
    assert not more.cached.any()
    np.testing.assert_array_equal(more.outputs[1]["head"].probs, expected[:5])
    ref = run.reference_outputs(
        audited=None,
        population="pool",
        audited_in=None,
        population_in=plan.membership(),
        population_out=plan.out_membership(),
    )
    assert isinstance(ref, ReferenceOutputs) and ref.num_models == 2


def test_torch_train_fn() -> None:
    x, y = _data()
    plan = random_plan(len(y), 2, seed=0)
    recipe = TrainRecipe(train_fn=_torch_train)  # classes inferred from the labels
    run = train_references(plan, x, y, recipe, queries={"all": (x, y)}, progress=False)
    idx = plan.train_indices[0]
    with _one_thread():  # the engine's thread count: the same computation, bit for bit
        module = _torch_train(x[idx], y[idx], plan.seeds[0])
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).double().numpy()
    np.testing.assert_array_equal(run.outputs[0]["all"].logits, expected)


def test_reference_outputs_assembler() -> None:
    x, y = _data()
    plan = random_plan(len(y), 4, seed=0)
    pop = _data(20, seed=3)
    run = train_references(
        plan, x, y, RECIPE, queries={"audited": (x, y), "population": pop}, progress=False
    )
    ref = run.reference_outputs(
        audited="audited",
        population="population",
        audited_in=plan.membership(),
        population_in=np.zeros((20, 4), bool),
        population_out=None,
    )
    assert ref.num_models == 4 and ref.population_out.all()
    with pytest.raises(DataError, match="valid: audited, population"):
        run.reference_outputs(
            audited="nope",
            population=None,
            audited_in=None,
            population_in=None,
            population_out=None,
        )


def test_errors() -> None:
    x, y = _data()
    plan = random_plan(len(y), 2, seed=0)
    q = {"all": (x, y)}
    with pytest.raises(ConfigError, match="valid: serial, process, ray, batched"):
        train_references(plan, x, y, RECIPE, queries=q, executor="threads", progress=False)
    with pytest.raises(DataError, match="pool of 120"):
        train_references(plan, x[:-1], y[:-1], RECIPE, queries=q, progress=False)
    with pytest.raises(DataError, match="query set 'all'"):
        train_references(plan, x, y, RECIPE, queries={"all": (x, y[:-1])}, progress=False)
    with pytest.raises(DataError, match="shape"):
        train_references(plan, x, y, RECIPE, queries={"all": (x[:, :3], y)}, progress=False)
    with pytest.raises(ConfigError, match="exactly one"):
        TrainRecipe()
    with pytest.raises(ConfigError, match="unknown parameter 'depth'"):
        TrainRecipe(model="mlp", params={"depth": 3})
    with pytest.raises(ConfigError, match="seed"):
        TrainRecipe(model="mlp", params={"seed": 3})


@pytest.mark.parametrize("optimizer,weight_decay", [("adam", 0.0), ("sgd", 1e-3)])
def test_batched_executor_matches_per_model_training(
    optimizer: str, weight_decay: float, tmp_path: Path
) -> None:
    """The stacked fast path against the obviously-correct per-model loop."""
    x, y = _data(150, 12)
    plan = random_plan(len(y), 5, seed=2)  # unequal training-set sizes
    params = {
        "hidden": (32, 16),
        "epochs": 5,
        "batch_size": 16,
        "optimizer": optimizer,
        "lr": 0.01,
        "weight_decay": weight_decay,
    }
    recipe = TrainRecipe(model="mlp", params=params, num_classes=3)
    q = {"all": (x, y)}
    slow = train_references(plan, x, y, recipe, queries=q, progress=False)
    fast = train_references(
        plan, x, y, recipe, queries=q, executor="batched", cache_dir=tmp_path, progress=False
    )
    # Stacked bmm vs per-model mm round differently by float32 ulps, which 5 epochs of
    # training grow to at most 7e-7 in the logits (|z| < 6) and 2e-8 relative in the loss
    # (measured with MKL's AVX-512, AVX2 and SSE4.2 kernels): 14x and 50x margins.
    np.testing.assert_allclose(_logits(fast, "all"), _logits(slow, "all"), rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast.train_loss, slow.train_loss, rtol=1e-6)
    # batched entries live under their own keys: a per-model run does not reuse them
    again = train_references(plan, x, y, recipe, queries=q, cache_dir=tmp_path, progress=False)
    assert not again.cached.any()
    with pytest.raises(ConfigError, match="batched"):
        train_references(
            plan,
            x,
            y,
            TrainRecipe(train_fn=_torch_train),
            queries=q,
            executor="batched",
            progress=False,
        )
