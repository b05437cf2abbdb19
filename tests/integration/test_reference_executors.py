"""Executors agree bit for bit, and a killed run resumes from the cache (real SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from miaudit.reference import ReferenceRun, TrainRecipe, random_plan, train_references


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.3)
    return x, y


def _run(executor: str, **kwargs: object) -> ReferenceRun:
    x, y = _problem()
    plan = random_plan(len(y), 4, seed=11)
    recipe = TrainRecipe(
        model="mlp", params={"hidden": (32, 16), "epochs": 3, "batch_size": 16}, num_classes=3
    )
    return train_references(
        plan,
        x,
        y,
        recipe,
        queries={"all": (x, y), "head": (x[:9], y[:9])},
        executor=executor,
        workers=2,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )


def _assert_same(a: ReferenceRun, b: ReferenceRun) -> None:
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    for oa, ob in zip(a.outputs, b.outputs, strict=True):
        assert list(oa) == list(ob)
        for name in oa:
            np.testing.assert_array_equal(oa[name].logits, ob[name].logits)
            np.testing.assert_array_equal(oa[name].probs, ob[name].probs)


@pytest.fixture(scope="module")
def serial_run() -> ReferenceRun:
    return _run("serial")


def test_process_executor_equals_serial(serial_run: ReferenceRun, tmp_path: Path) -> None:
    run = _run("process", cache_dir=tmp_path)
    _assert_same(run, serial_run)
    again = _run("serial", cache_dir=tmp_path)  # entries written by workers are reusable
    assert again.cached.all()
    _assert_same(again, serial_run)


def test_ray_executor_equals_serial(serial_run: ReferenceRun) -> None:
    ray = pytest.importorskip("ray", reason="executor 'ray' needs the ray package")
    assert not ray.is_initialized()
    run = _run("ray")
    _assert_same(run, serial_run)
    assert not ray.is_initialized(), "the local Ray instance started by the call is left running"


SCRIPT = """
import sys
import numpy as np
from miaudit.reference import TrainRecipe, random_plan, train_references


def run(cache_dir):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 32)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.3)
    plan = random_plan(len(y), 6, seed=5)
    recipe = TrainRecipe(
        model="mlp", params={"hidden": (256, 256), "epochs": 40, "batch_size": 32},
        num_classes=3,
    )
    return train_references(
        plan, x, y, recipe, queries={"all": (x, y)}, cache_dir=cache_dir, progress=False
    )


if __name__ == "__main__":
    r = run(sys.argv[1])
    np.savez(
        sys.argv[2], cached=r.cached, loss=r.train_loss,
        logits=np.stack([o["all"].logits for o in r.outputs]),
    )
"""


def _entries(cache: Path) -> list[Path]:
    return [p for p in cache.glob("*/*") if p.parent.name != ".tmp"]


@pytest.mark.slow
def test_killed_run_resumes_from_cache(tmp_path: Path) -> None:
    script = tmp_path / "train_refs.py"
    script.write_text(SCRIPT)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    cmd = [sys.executable, str(script), str(cache), str(tmp_path / "out.npz")]
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stderr=err)
        deadline = time.monotonic() + 120
        while len(_entries(cache)) < 2:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no cache entries appeared"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = len(_entries(cache))
    assert 2 <= done < 6
    for entry in _entries(cache):  # no half-written entry
        assert (entry / "meta.json").is_file() and (entry / "model.safetensors").is_file()

    subprocess.run(cmd, env=env, check=True, timeout=300)
    resumed = np.load(tmp_path / "out.npz")
    assert int(resumed["cached"].sum()) == done
    assert len(_entries(cache)) == 6

    namespace: dict[str, object] = {"__name__": "resume_script"}
    exec(compile(SCRIPT, str(script), "exec"), namespace)
    fresh = namespace["run"](None)  # type: ignore[operator]
    np.testing.assert_array_equal(resumed["loss"], fresh.train_loss)
    np.testing.assert_array_equal(
        resumed["logits"], np.stack([o["all"].logits for o in fresh.outputs])
    )
