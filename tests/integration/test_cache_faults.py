"""Fault tests of the reference-model cache and the process executor (issue 9 items 2, 11).

Each kind of cache file is corrupted (truncated, altered but valid, deleted, garbage), and
the rerun must warn, retrain only what was corrupt and give results identical to a clean
run. A cache that cannot be written (injected ENOSPC/EACCES/EROFS, and a real full 1 MiB
tmpfs where one can be mounted) must not stop the run. A killed process-pool worker ends in
a one-line WorkerError with the finished models cached; Ctrl-C prints no traceback.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from miaudit.errors import WorkerError
from miaudit.reference import ReferenceRun, TrainRecipe, _cache, random_plan, train_references
from miaudit.reference import _recipe as recipe_module
from miaudit.reference._cache import CacheWarning
from tests.integration.conftest import fill_disk
from tests.integration.fault_helpers import fit_lr
from tests.integration.test_reference_executors import _assert_same

ROOT = Path(__file__).resolve().parents[2]
MLP = TrainRecipe(
    model="mlp", params={"hidden": (16,), "epochs": 3, "batch_size": 32}, num_classes=3
)
SKLEARN = TrainRecipe(train_fn=fit_lr, num_classes=3)
K = 4


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def _queries(extra: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = _problem()
    q = {"all": (x, y)}
    if extra:
        q["head"] = (x[:10] * 2, y[:10])
    return q


def _run(
    cache: Path | None,
    recipe: TrainRecipe = MLP,
    *,
    extra: bool = False,
    executor: str = "serial",
    workers: int = 2,
    k: int = K,
) -> ReferenceRun:
    x, y = _problem()
    return train_references(
        random_plan(len(y), k, seed=2),
        x,
        y,
        recipe,
        queries=_queries(extra),
        executor=executor,
        workers=workers,
        cache_dir=cache,
        progress=False,
    )


@pytest.fixture(scope="module")
def clean() -> dict[str, ReferenceRun]:
    """Uncached runs: the results every faulty rerun must reproduce bit for bit."""
    return {"mlp": _run(None), "mlp+head": _run(None, extra=True), "sklearn": _run(None, SKLEARN)}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    caches = {}
    for name, recipe in (("mlp", MLP), ("sklearn", SKLEARN)):
        cache = tmp_path_factory.mktemp(f"cache-{name}")
        assert not _run(cache, recipe).cached.any()
        caches[name] = cache
    return caches


def _entry(cache: Path, model: int = 1) -> Path:
    """The entry of model ``model`` of the plan (found by its seed)."""
    seed = random_plan(len(_problem()[1]), K, seed=2).seeds[model]
    for entry in cache.glob("??/*"):
        if _cache.read_meta(entry)["seed"] == seed:  # type: ignore[index]
            return entry
    raise AssertionError(f"no entry for model {model}")


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Seeds of the built-in models trained (serial executor) in this test."""
    seeds: list[int] = []
    original = recipe_module.train_model

    def spy(*args: object, **kwargs: object) -> object:
        seeds.append(int(kwargs["seed"]))  # type: ignore[call-overload]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recipe_module, "train_model", spy)
    return seeds


def _copy(filled: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(filled[name], tmp_path / "cache"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _alter_npz(path: Path) -> None:
    """Flip the bytes of one probability and save again: a valid .npz, wrong content."""
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    view = arrays["probs"].view(np.uint8)
    view[:8] ^= 0xFF
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


def _outputs_file(entry: Path) -> Path:
    return next(entry.glob("outputs_*.npz"))


OUTPUT_FAULTS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda e: _truncate(_outputs_file(e)),
    "altered": lambda e: _alter_npz(_outputs_file(e)),
    "deleted": lambda e: _outputs_file(e).unlink(),
}
META_FAULTS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda e: _truncate(e / _cache.META),
    "garbage": lambda e: (e / _cache.META).write_bytes(os.urandom(64)),
    "altered": lambda e: (e / _cache.META).write_text(
        (e / _cache.META).read_text().replace('"seed": ', '"seed": 1')
    ),
    "deleted": lambda e: (e / _cache.META).unlink(),
}


@pytest.mark.parametrize("fault", sorted(OUTPUT_FAULTS))
def test_corrupt_outputs_are_recomputed_from_the_weights(
    fault: str, filled: dict[str, Path], clean: dict, tmp_path: Path, counted: list[int]
) -> None:
    cache = _copy(filled, "mlp", tmp_path)
    entry = _entry(cache)
    OUTPUT_FAULTS[fault](entry)
    with pytest.warns(CacheWarning, match=f"{entry.name}.*outputs_.*discarded"):
        run = _run(cache)
    assert counted == []  # the weights were intact: nothing retrained
    _assert_same(run, clean["mlp"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: the next run is a silent full hit
        assert _run(cache).cached.all()


@pytest.mark.parametrize("fault", sorted(META_FAULTS))
def test_corrupt_meta_retrains_that_model_only(
    fault: str, filled: dict[str, Path], clean: dict, tmp_path: Path, counted: list[int]
) -> None:
    """Before: a truncated meta.json made every later run fail ('Directory not empty')."""
    cache = _copy(filled, "mlp", tmp_path)
    entry = _entry(cache)
    seed = _cache.read_meta(entry)["seed"]  # type: ignore[index]
    META_FAULTS[fault](entry)
    with pytest.warns(CacheWarning, match=f"{entry.name} is unusable.*meta.json"):
        run = _run(cache)
    assert counted == [seed]
    assert run.cached.tolist() == [True, False, True, True]
    _assert_same(run, clean["mlp"])
    assert _run(cache).cached.all()


def test_corrupt_weights_retrain_when_they_are_needed(
    filled: dict[str, Path], clean: dict, tmp_path: Path, counted: list[int]
) -> None:
    """Weights are verified when read: only when an outputs file has to be computed."""
    cache = _copy(filled, "mlp", tmp_path)
    entry = _entry(cache)
    seed = _cache.read_meta(entry)["seed"]  # type: ignore[index]
    _truncate(entry / _cache.WEIGHTS)
    run = _run(cache)  # every outputs file is intact: the weights are not read
    assert run.cached.all() and counted == []
    with pytest.warns(CacheWarning, match=f"{entry.name} is unusable.*model.safetensors"):
        more = _run(cache, extra=True)  # a new query set needs the weights
    assert counted == [seed]
    _assert_same(more, clean["mlp+head"])
    assert _run(cache, extra=True).cached.all()


def test_deleted_entry_is_retrained_without_a_warning(
    filled: dict[str, Path], clean: dict, tmp_path: Path, counted: list[int]
) -> None:
    cache = _copy(filled, "mlp", tmp_path)
    shutil.rmtree(_entry(cache))
    run = _run(cache)
    assert len(counted) == 1 and run.cached.sum() == K - 1
    _assert_same(run, clean["mlp"])


@pytest.mark.parametrize("fault", ["truncated", "altered"])
def test_corrupt_outputs_of_a_model_without_weights_retrain_it(
    fault: str,
    filled: dict[str, Path],
    clean: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = _copy(filled, "sklearn", tmp_path)
    entry = _entry(cache)
    OUTPUT_FAULTS[fault](entry)
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("MIAUDIT_FAULT_DIR", str(markers))  # counts train_fn calls
    with pytest.warns(CacheWarning, match=f"{entry.name}.*discarded"):
        run = _run(cache, SKLEARN)
    assert len(list(markers.iterdir())) == 1
    _assert_same(run, clean["sklearn"])


def test_process_workers_relay_their_cache_warnings(
    filled: dict[str, Path], clean: dict, tmp_path: Path
) -> None:
    cache = _copy(filled, "mlp", tmp_path)
    entry = _entry(cache)
    _truncate(entry / _cache.WEIGHTS)  # found by the worker that needs the weights
    with pytest.warns(CacheWarning, match=f"{entry.name} is unusable.*model.safetensors"):
        run = _run(cache, extra=True, executor="process")
    _assert_same(run, clean["mlp+head"])


# -- a cache that cannot be written -----------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_unwritable_cache_warns_once_and_the_run_completes(
    code: int, clean: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(path: Path, data: bytes) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(_cache, "_write_bytes", fail)
    with pytest.warns(CacheWarning, match="cannot write the reference-model cache") as got:
        run = _run(tmp_path / "cache")
    assert len(got) == 1 and os.strerror(code) in str(got[0].message)
    _assert_same(run, clean["mlp"])
    assert not list((tmp_path / "cache").glob("??/*"))


def test_unwritable_cache_when_adding_outputs(
    filled: dict[str, Path], clean: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = _copy(filled, "mlp", tmp_path)

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_cache, "_write_bytes", full)
    with pytest.warns(CacheWarning, match="No space left on device") as got:
        run = _run(cache, extra=True)
    assert len(got) == 1
    _assert_same(run, clean["mlp+head"])
    monkeypatch.undo()
    assert _run(cache).cached.all()  # the entries already there are untouched


def test_a_real_full_disk(small_disk: Path, clean: dict) -> None:
    """Room for about two entries: the run completes, warns once, keeps what it wrote."""
    fill_disk(small_disk, 24 * 1024)
    cache = small_disk / "cache"
    with pytest.warns(CacheWarning, match="No space left on device") as got:
        run = _run(cache)
    assert len(got) == 1
    _assert_same(run, clean["mlp"])
    written = [e for e in cache.glob("??/*") if e.parent.name != ".tmp"]
    assert len(written) < K
    (small_disk / "filler").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every entry written is complete and valid
        rerun = _run(cache)
    assert int(rerun.cached.sum()) == len(written)
    _assert_same(rerun, clean["mlp"])


# -- the process executor: a killed worker, Ctrl-C -------------------------------------------


def test_killed_worker_is_a_one_line_error_and_finished_models_stay_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean: dict
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("MIAUDIT_FAULT_DIR", str(markers))
    monkeypatch.setenv("MIAUDIT_FAULT_KILL_AT", "2")  # the third model kills its worker
    cache = tmp_path / "cache"
    with pytest.raises(WorkerError, match="worker died .killed or out of memory.*rerun") as e:
        _run(cache, SKLEARN, executor="process", workers=1, k=3)
    assert "\n" not in str(e.value)
    assert len(list(cache.glob("??/*"))) == 2  # the two models finished before
    monkeypatch.delenv("MIAUDIT_FAULT_KILL_AT")
    resumed = _run(cache, SKLEARN, executor="process", workers=1, k=3)
    assert resumed.cached.tolist() == [True, True, False]
    _assert_same(resumed, _run(None, SKLEARN, k=3))


CONFIG = {
    "seed": 0,
    "dataset": {"name": "digits"},
    "split": {"members": 100, "nonmembers": 100},
    "target": {"model": "logistic_regression"},
    "attacks": [{"name": "lira", "online": False}],
    "evaluation": {"bootstrap": 10, "random_queries": 50},
}


def _cli(tmp_path: Path, env: dict[str, str], num_models: int) -> subprocess.Popen[bytes]:
    cfg = {
        **CONFIG,
        "reference": {
            "num_models": num_models,
            "executor": "process",
            "workers": 2,
            "train_fn": "tests.integration.fault_helpers:fit_lr",
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "miaudit.cli", "audit", str(path), "--no-progress"]
    cmd += ["--output", str(tmp_path / "out")]
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=full, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a terminal's job
    )  # fmt: skip


def _workers(pid: int) -> list[str]:
    """The child processes of ``pid`` (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


@pytest.mark.parametrize("phase", ["starting", "training"])
def test_ctrl_c_with_the_process_executor_prints_no_traceback(phase: str, tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it. Before: workers
    interrupted while starting printed tracebacks (a KeyboardInterrupt in an import, or an
    UnpicklingError), and workers interrupted while training were waited for."""
    if not Path(f"/proc/{os.getpid()}/task").is_dir():
        pytest.skip("needs Linux /proc to see the workers start")
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"MIAUDIT_FAULT_DIR": str(markers), "MIAUDIT_FAULT_SLEEP": "60"}
    proc = _cli(tmp_path, env, num_models=4)
    try:
        deadline = time.monotonic() + 120
        while len(_workers(proc.pid)) < 2 or (
            phase == "training" and len(list(markers.iterdir())) < 2
        ):
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.02)
        if phase == "starting":
            time.sleep(0.3)  # inside the workers' imports (they take seconds)
        start = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)  # returns when every process closed stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipes
    stderr = err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Error" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "miaudit: interrupted"
    assert time.monotonic() - start < 45, "the workers' 60 s models were waited for"


def test_killed_worker_in_a_config_run_prints_no_traceback(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {"MIAUDIT_FAULT_DIR": str(markers), "MIAUDIT_FAULT_KILL_AT": "1"}
    proc = _cli(tmp_path, env, num_models=3)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipes
    stderr = err.decode()
    # 2: the run stopped with a one-line error; 3: recorded as the failure of the attacks
    # that needed the models (the pipeline's choice), the rest of the audit written
    assert proc.returncode in (2, 3), stderr
    assert "Traceback" not in stderr, stderr
    assert "a reference-model worker died (killed or out of memory)" in out.decode() + stderr
