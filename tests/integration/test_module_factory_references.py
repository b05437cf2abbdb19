"""Reference models from a user's module factory, trained with DP-SGD: cached by the
factory's fingerprint, and the process executor equals the serial one (issue 10 item 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from miaudit.defenses import DefenseSpec
from miaudit.defenses.dp_sgd import DPSGD
from miaudit.reference import ReferenceRun, TrainRecipe, random_plan, train_references


def small_net() -> nn.Module:  # module level: picklable for the process executor
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))


def _run(executor: str, cache_dir: Path) -> ReferenceRun:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.3)
    recipe = TrainRecipe(
        model=small_net,
        params={"epochs": 2, "batch_size": 16, "device": "auto"},
        num_classes=3,
        defense=DefenseSpec(DPSGD(noise_multiplier=1.0)),
    )
    return train_references(
        random_plan(len(y), 2, seed=3),
        x,
        y,
        recipe,
        queries={"all": (x, y)},
        executor=executor,
        workers=2,
        cache_dir=cache_dir,
        progress=False,
    )


def test_factory_recipes_cache_and_run_in_worker_processes(tmp_path: Path) -> None:
    serial = _run("serial", tmp_path / "a")
    assert not serial.cached.any()
    again = _run("serial", tmp_path / "a")
    assert again.cached.all()  # the factory's fingerprint found the models
    process = _run("process", tmp_path / "b")
    assert not process.cached.any()
    for run in (again, process):
        np.testing.assert_array_equal(run.train_loss, serial.train_loss)
        for a, b in zip(run.outputs, serial.outputs, strict=True):
            np.testing.assert_array_equal(a["all"].probs, b["all"].probs)
