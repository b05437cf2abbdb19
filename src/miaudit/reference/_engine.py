"""Train the models of a :class:`ReferencePlan` (serial, process pool or Ray) through the cache.

Every model's result depends only on its training records, the recipe and its seed, so all
executors give the same outputs, bit for bit, provided each model trains with the same
number of torch threads. That number matters: on torch 2.13 CPU (x86) training the same
small MLP with 1 and with 2 threads gave different weights for one model in four (float
rounding, train loss differing at 3e-10), while the benchmark MLP happened to agree. So the
thread count is explicit: ``threads_per_model`` (default 1) is set in every executor,
including serial (torch's previous setting is restored afterwards). Parallelism comes from
running models side by side (process/Ray workers) or from the batched executor.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from miaudit.errors import ConfigError, DataError, WorkerError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.reference import _cache
from miaudit.reference._plan import ReferencePlan
from miaudit.reference._recipe import TrainRecipe
from miaudit.targets import Target, TorchTarget
from miaudit.targets._base import as_records

EXECUTORS = ("serial", "process", "ray", "batched")


@dataclass(frozen=True)
class ReferenceRun:
    """The trained reference models' outputs.

    Attributes:
        plan: the plan that was trained.
        outputs: per model, query-set name -> outputs (with logits when the model exposes
            them, and ``augmented`` views when an augmentation was given).
        train_loss: float64 (num_models,), each model's mean cross-entropy on its own
            training set.
        cached: bool (num_models,), True where the model was loaded from the cache rather
            than trained in this call.
        seconds: wall time of the call.
        train_flops: estimated training FLOPs of the models trained in this call when the
            recipe is a built-in MLP (6 * parameters * samples * epochs), for throughput
            reporting; None otherwise.
    """

    plan: ReferencePlan
    outputs: tuple[dict[str, ModelOutputs], ...]
    train_loss: np.ndarray
    cached: np.ndarray
    seconds: float
    train_flops: float | None

    def reference_outputs(
        self,
        *,
        audited: str | None,
        population: str | None,
        audited_in: np.ndarray | None,
        population_in: np.ndarray | None,
        population_out: np.ndarray | None,
        foreign: str | None = None,
    ) -> ReferenceOutputs:
        """Assemble :class:`~miaudit.outputs.ReferenceOutputs` from named query sets.

        The memberships are the caller's (it knows how the pool maps onto the query sets),
        each of shape (n_query_records, num_models); ``population_out`` defaults to the
        complement of ``population_in`` for a random plan.
        """
        k = self.plan.num_models

        def pick(name: str | None) -> tuple[ModelOutputs, ...]:
            if name is None:
                return ()
            missing = [j for j, o in enumerate(self.outputs) if name not in o]
            if missing:
                valid = sorted(self.outputs[0])
                raise DataError(f"no query set {name!r} in this run; valid: {', '.join(valid)}")
            return tuple(o[name] for o in self.outputs)

        aud = pick(audited)
        pop = pick(population)
        n_aud = aud[0].n if aud else 0
        n_pop = pop[0].n if pop else 0
        if aud and audited_in is None:
            raise DataError("audited_in is required with audited outputs")
        if pop and population_in is None:
            raise DataError("population_in is required with population outputs")
        a_in = np.zeros((n_aud, k), bool) if audited_in is None else audited_in
        p_in = np.zeros((n_pop, k), bool) if population_in is None else population_in
        if population_out is None:
            if pop and self.plan.kind != "random":
                raise DataError("population_out is required for a shadow plan")
            p_out = ~np.asarray(p_in, dtype=bool)
        else:
            p_out = population_out
        return ReferenceOutputs(
            audited=aud,
            audited_in=a_in,
            population=pop,
            population_in=p_in,
            population_out=p_out,
            train_loss=self.train_loss,
            foreign=foreign,
        )


# -- what travels to workers -------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    x: np.ndarray
    y: np.ndarray
    views: tuple[np.ndarray, ...] | None
    qhash: str


@dataclass(frozen=True)
class _Shared:
    """Data every job needs; sent once per worker (process initializer, ``ray.put``)."""

    x_pool: np.ndarray
    y_pool: np.ndarray
    recipe: TrainRecipe
    queries: dict[str, _Query]
    cache_dir: str | None
    batched: bool = False
    #: the records defender indices point into (None: the training pool)
    x_defender: np.ndarray | None = None
    y_defender: np.ndarray | None = None
    #: the recipe's fingerprint (computed once, in the calling process; None without cache)
    fingerprint: str | None = None

    def defender(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The defender's records at ``indices`` (of the defender pool, else the pool)."""
        if self.x_defender is None or self.y_defender is None:
            return self.x_pool[indices], self.y_pool[indices]
        return self.x_defender[indices], self.y_defender[indices]


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    key: str | None
    train_indices: np.ndarray
    #: indices of the defender's reference records (defenses fitted with defender data),
    #: into the defender pool when there is one, else into the training pool
    defender_indices: np.ndarray | None = None


@dataclass(frozen=True)
class _Result:
    index: int
    outputs: dict[str, ModelOutputs]
    train_loss: float
    trained: bool
    #: CacheWarning messages raised in a worker, re-emitted by the calling process
    notes: tuple[str, ...] = ()
    #: why this model's cache entry could not be written (None: written, or no cache)
    cache_error: str | None = None


def _writable(a: np.ndarray) -> np.ndarray:
    """Ray hands read-only zero-copy arrays to workers; torch.from_numpy warns about those."""
    return a if a.flags.writeable else a.copy()


def _evaluate(target: Target, query: _Query) -> ModelOutputs:
    out = target.outputs(_writable(query.x), query.y)
    if query.views is None:
        return out
    views = tuple(target.outputs(_writable(v), query.y) for v in query.views)
    return ModelOutputs(probs=out.probs, y=out.y, logits=out.logits, augmented=views)


def _mean_loss(target: Target, x: np.ndarray, y: np.ndarray) -> float:
    out = target.outputs(x, y)
    idx = np.arange(out.n)
    if out.logits is not None:
        z = out.logits
        m = z.max(axis=1)
        per = m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[idx, out.y]
    else:
        per = -np.log(np.maximum(out.probs[idx, out.y], 1e-30))
    return float(per.mean())


def _meta(shared: _Shared, job: _Job, loss: float) -> dict[str, Any]:
    meta = {
        "train_loss": loss,
        "recipe": shared.fingerprint,
        "executor": "batched" if shared.batched else "per-model",
        "seed": job.seed,
        "n_train": int(job.train_indices.size),
        "versions": _cache.versions(),
    }
    if job.defender_indices is not None:
        meta["n_defender"] = int(job.defender_indices.size)
    return meta


def _train(job: _Job, shared: _Shared) -> Target:
    """Train job's model; with an inference-time defense, the defended (wrapped) model."""
    idx = job.train_indices
    defender = None
    if job.defender_indices is not None:
        x_def, y_def = shared.defender(job.defender_indices)
        defender = (_writable(x_def), y_def)
    x = _writable(shared.x_pool[idx])
    return shared.recipe.train(x, shared.y_pool[idx], job.seed, defender=defender)


def _run_job(job: _Job, shared: _Shared) -> _Result:
    """Train (or restore) one model, evaluate the missing query sets, fill the cache."""
    cache = Path(shared.cache_dir) if shared.cache_dir is not None and job.key else None
    entry = _cache.entry_dir(cache, job.key) if cache is not None and job.key else None
    meta = _cache.read_meta(entry) if entry is not None else None
    if meta is not None and entry is not None:
        resumed = _resume(job, shared, entry, meta)
        if resumed is not None:
            return resumed
    x_train = shared.x_pool[job.train_indices]
    y_train = shared.y_pool[job.train_indices]
    target = _train(job, shared)
    return _finish(job, shared, target, x_train, y_train)


def _resume(job: _Job, shared: _Shared, entry: Path, meta: dict[str, Any]) -> _Result | None:
    """A model from its cache entry: the cached outputs, the missing (or discarded) ones
    computed from the cached weights, or by retraining (deterministic) where the entry has
    none. None when the weights turn out unusable (the entry is discarded: retrain all)."""
    recipe = shared.recipe
    outputs: dict[str, ModelOutputs] = {}
    for name, q in shared.queries.items():
        got = _cache.read_outputs(entry, q.qhash, meta)
        if got is not None:
            outputs[name] = got
    missing = [name for name in shared.queries if name not in outputs]
    if not missing:
        return _Result(job.index, outputs, float(meta["train_loss"]), trained=False)
    target: Target
    if recipe.can_rebuild() and meta["has_weights"]:
        weights = _cache.read_weights(entry, meta)
        if weights is None:
            return None
        module = recipe.build_module(tuple(shared.x_pool.shape[1:]))
        module.load_state_dict(weights)
        target, trained = TorchTarget(module.eval(), num_classes=recipe.num_classes), False
    else:  # no weights to load (sklearn, train_fn, defended): retrain, deterministic
        target, trained = _train(job, shared), True
    error = None
    assert shared.cache_dir is not None and job.key is not None
    for name in missing:
        q = shared.queries[name]
        outputs[name] = _evaluate(target, q)
        if error is None:
            error = _try_write(
                _cache.add_outputs, Path(shared.cache_dir), job.key, q.qhash, outputs[name]
            )
    ordered = {name: outputs[name] for name in shared.queries}
    loss = float(meta["train_loss"])
    return _Result(job.index, ordered, loss, trained=trained, cache_error=error)


def _try_write(write: Callable[..., None], *args: Any) -> str | None:
    """Run a cache write; an OSError (full disk, no permission, read-only file system)
    becomes its message: the audit goes on without caching (issue 9 item 2)."""
    try:
        write(*args)
    except OSError as exc:
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return None


def _finish(
    job: _Job, shared: _Shared, target: Target, x_train: np.ndarray, y_train: np.ndarray
) -> _Result:
    """Evaluate a freshly trained model on every query set and write its cache entry."""
    loss = _mean_loss(target, x_train, y_train)
    outputs = {name: _evaluate(target, q) for name, q in shared.queries.items()}
    error = None
    if shared.cache_dir is not None and job.key is not None:
        state = target.module.state_dict() if isinstance(target, TorchTarget) else None
        by_hash = {shared.queries[n].qhash: o for n, o in outputs.items()}
        meta = _meta(shared, job, loss)
        error = _try_write(
            _cache.write_entry, Path(shared.cache_dir), job.key, meta, state, by_hash
        )
    return _Result(job.index, outputs, loss, trained=True, cache_error=error)


# -- executors -----------------------------------------------------------------------------


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_WORKER_SHARED: _Shared | None = None


def _init_worker(shared: _Shared, threads: int) -> None:
    """A process-pool worker: SIGINT ignored (the caller stops workers on Ctrl-C; see
    :func:`_process`), then the job data and the torch thread count."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started blocked (_sigint_deferred); now ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    global _WORKER_SHARED
    _WORKER_SHARED = shared
    torch.set_num_threads(threads)


def _worker_run(job: _Job) -> _Result:
    assert _WORKER_SHARED is not None, "worker not initialised"
    return _relaying_warnings(job, _WORKER_SHARED)


def _ray_run(job: _Job, shared: _Shared, threads: int) -> _Result:
    torch.set_num_threads(threads)
    return _relaying_warnings(job, shared)


def _relaying_warnings(job: _Job, shared: _Shared) -> _Result:
    """``_run_job`` in a worker: its CacheWarnings travel back with the result (the caller
    re-emits them, so they reach the user and ``warnings`` filters, even from Ray workers
    whose output is not shown); other warnings are shown here as usual."""
    show = warnings.showwarning
    with warnings.catch_warnings(record=True) as caught:
        res = _run_job(job, shared)
    notes = []
    for w in caught:
        if issubclass(w.category, _cache.CacheWarning):
            notes.append(str(w.message))
        else:
            show(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return replace(res, notes=tuple(notes)) if notes else res


def _serial(jobs: list[_Job], shared: _Shared, threads: int) -> Iterator[_Result]:
    with _torch_threads(threads):
        for job in jobs:
            yield _run_job(job, shared)


def _process(jobs: list[_Job], shared: _Shared, workers: int, threads: int) -> Iterator[_Result]:
    """A spawn process pool. Workers ignore SIGINT (issue 9 item 11: Ctrl-C reaches every
    process of the terminal's process group, and workers interrupted while starting or
    reading a job printed tracebacks, e.g. a spurious ``UnpicklingError``); the caller gets
    the KeyboardInterrupt and terminates them. A worker that dies (killed, out of memory)
    ends in a one-line :class:`WorkerError`."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(shared, threads),
    )
    interrupted = True
    try:
        try:
            with _sigint_deferred():  # workers start at submit
                pending = {pool.submit(_worker_run, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BrokenProcessPool:  # raised by submit or result, whenever a worker died
            # the pool's own clean-up terminates the workers it knew of when it broke; one
            # still starting then (spawn takes seconds) was waited for forever (Python 3.11)
            _terminate_workers(pool)
            raise _worker_died(len(jobs), shared.cache_dir) from None
        interrupted = False
    except Exception:
        interrupted = False  # an error: running models finish (and are cached) first
        raise
    finally:
        if interrupted:  # KeyboardInterrupt (or the caller gave up): workers ignore SIGINT
            _terminate_workers(pool)
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Start workers without a Ctrl-C reaching them or cutting the start short.

    SIGINT is blocked in this thread, so the workers inherit a blocked SIGINT through fork
    and exec and no Ctrl-C can interrupt their start-up (an interrupted import printed a
    traceback from each) before their initializer ignores it. In the main thread a Ctrl-C
    meanwhile is also held back (it could reach another thread of this process and be
    raised half-way through starting a worker, leaving that worker unknown to the pool and
    running on); it is raised again once every worker is registered.
    """
    caught: list[int] = []
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    mask = None
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
            if caught:
                signal.raise_signal(signal.SIGINT)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker of ``pool`` (they ignore SIGINT; a stopped run must not wait
    for their models)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()


def _worker_died(total: int, cache_dir: str | None) -> WorkerError:
    if cache_dir is None:
        kept = "set reference.cache_dir (cache_dir=...) to keep finished models across runs"
    else:
        kept = "finished models are cached; rerun to resume"
    return WorkerError(
        f"a reference-model worker died (killed or out of memory) while {total} models "
        f"were trained; {kept} (a script that starts the process executor needs the "
        "`if __name__ == '__main__':` guard of the spawn start method)"
    )


def _ray(
    jobs: list[_Job], shared: _Shared, workers: int, threads: int, address: str | None
) -> Iterator[_Result]:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'miaudit[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address is None:
            ray.init(
                num_cpus=workers * threads,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        started = True
    try:
        remote = ray.remote(num_cpus=threads, max_retries=0)(_ray_run)
        shared_ref = ray.put(shared)
        pending = [remote.remote(job, shared_ref, threads) for job in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
        del shared_ref
    finally:
        if started:
            ray.shutdown()


# -- the public entry point ----------------------------------------------------------------


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _prepare_queries(
    queries: Mapping[str, tuple[np.ndarray, np.ndarray]],
    augment: Callable[[np.ndarray], list[np.ndarray]] | None,
    record_shape: tuple[int, ...],
    num_classes: int,
) -> dict[str, _Query]:
    if not isinstance(queries, Mapping) or not queries:
        raise ConfigError("queries must be a non-empty mapping name -> (x, y)")
    prepared: dict[str, _Query] = {}
    for name, pair in queries.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise DataError(f"query set {name!r} must be a pair (x, y)")
        x = as_records(pair[0], what=f"query set {name!r} x")
        y = np.asarray(pair[1])
        if y.shape != (x.shape[0],):
            raise DataError(
                f"query set {name!r}: {x.shape[0]} records but labels of shape {y.shape}"
            )
        if tuple(x.shape[1:]) != record_shape:
            raise DataError(
                f"query set {name!r} has records of shape {x.shape[1:]}, the pool {record_shape}"
            )
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise DataError(f"query set {name!r} has labels outside 0..{num_classes - 1}")
        views = None
        if augment is not None:
            views = tuple(np.asarray(v) for v in augment(x))
            if not views or any(v.shape != x.shape for v in views):
                raise DataError(
                    f"augment must return a non-empty list of arrays shaped like x {x.shape}"
                )
        y = y.astype(np.int64)
        prepared[str(name)] = _Query(x, y, views, _cache.query_hash(x, y, views))
    return prepared


def _train_flops(
    recipe: TrainRecipe, plan: ReferencePlan, record_shape: tuple[int, ...], trained: np.ndarray
) -> float | None:
    n_params = recipe.mlp_params(math.prod(record_shape))
    if n_params is None:
        return None
    epochs = int(recipe.full_params()["epochs"])
    samples = sum(int(plan.train_indices[j].size) for j in np.flatnonzero(trained))
    return 6.0 * n_params * samples * epochs


def train_references(
    plan: ReferencePlan,
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    recipe: TrainRecipe,
    *,
    queries: Mapping[str, tuple[np.ndarray, np.ndarray]],
    augment: Callable[[np.ndarray], list[np.ndarray]] | None = None,
    executor: str = "serial",
    workers: int | None = None,
    address: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    threads_per_model: int = 1,
    defender_pool: tuple[np.ndarray, np.ndarray] | None = None,
) -> ReferenceRun:
    """Train every model of ``plan`` on its pool records and query it on each query set.

    Reference models for LiRA (Carlini et al. 2022), RMIA (Zarifzadeh et al. 2024) and
    Shokri et al. (2017) shadow models. Model j trains on
    ``(x_pool[plan.train_indices[j]], y_pool[...])`` with ``plan.seeds[j]``, so results do
    not depend on the executor or the order of completion.

    Args:
        plan: from :func:`random_plan` or :func:`shadow_plan`.
        x_pool, y_pool: the pool the plan's indices point into.
        recipe: how to train one model.
        queries: named query sets ``name -> (x, y)`` every model is evaluated on.
        augment: ``augment(x) -> [view, ...]``; every query set is also evaluated on each
            view (computed once here, shared by all models) and the outputs carry
            ``ModelOutputs.augmented``.
        executor: "serial" (in process), "process" (a spawn process pool), "ray" (Ray
            tasks) or "batched" (built-in MLP recipes: k models trained together as one
            batched network; numerically equivalent within float tolerance, not bitwise).
        workers: parallel workers for process/ray (default ``os.cpu_count()``).
        address: Ray cluster address; None starts a local Ray instance (shut down again
            afterwards) unless Ray is already initialised.
        cache_dir: content-addressed cache (see :mod:`miaudit.reference._cache`); finished
            models are reused, so a killed run resumes where it stopped. Every file is
            checked against its checksum when read; an unusable entry or file is discarded
            and recomputed with a :class:`~miaudit.reference.CacheWarning`, and a cache that
            cannot be written (full disk, no permission) warns once and the run goes on
            without it.
        progress: tqdm bar "reference models" on stderr.
        threads_per_model: torch threads each model trains with, in every executor (results
            are bitwise reproducible only for the same value; see the module docstring).
        defender_pool: records ``(x, y)`` outside the plan's pool that a recipe's defense
            draws its simulated defender's reference records from (see
            :meth:`TrainRecipe.defender_indices`); None draws them from each model's out set.

    Raises:
        ConfigError: unknown executor or bad sizes; a ``train_fn`` the cache cannot
            fingerprint (see :class:`TrainRecipe`). DataError: malformed arrays.
        WorkerError: a process-executor worker died (killed, out of memory).
    """
    start = time.perf_counter()
    if not isinstance(plan, ReferencePlan):
        raise ConfigError(f"plan must be a ReferencePlan, got {type(plan).__name__}")
    if not isinstance(recipe, TrainRecipe):
        raise ConfigError(f"recipe must be a TrainRecipe, got {type(recipe).__name__}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    x_pool = as_records(x_pool, what="x_pool")
    y_pool = np.asarray(y_pool)
    if x_pool.shape[0] != plan.n_pool or y_pool.shape != (plan.n_pool,):
        raise DataError(
            f"the plan is for a pool of {plan.n_pool} records but x_pool has "
            f"{x_pool.shape[0]} and y_pool shape {y_pool.shape}"
        )
    if not np.issubdtype(y_pool.dtype, np.integer):
        raise DataError(f"y_pool must be integer labels, got dtype {y_pool.dtype}")
    y_pool = y_pool.astype(np.int64)
    if y_pool.min() < 0:
        raise DataError("y_pool has negative labels")
    query_max = max((int(np.max(q[1])) for q in queries.values() if len(q[1])), default=0)
    recipe = recipe.with_classes(max(int(y_pool.max()), query_max, 1) + 1)
    cpus = os.cpu_count() or 1
    n_workers = cpus if workers is None else _positive(workers, "workers")
    threads_per_model = _positive(threads_per_model, "threads_per_model")
    record_shape = tuple(x_pool.shape[1:])
    prepared = _prepare_queries(queries, augment, record_shape, recipe.num_classes)
    cache = None if cache_dir is None else Path(cache_dir)
    if executor == "batched":
        from miaudit.reference._batched import check_batchable

        check_batchable(recipe)
    fingerprint = None
    if cache is not None:  # a train_fn that cannot be fingerprinted refuses to be cached
        fingerprint = recipe.fingerprint()
        if executor == "batched":
            fingerprint += "|batched"  # equal to per-model training up to rounding only

    x_def = y_def = None
    n_defender_pool = None
    if defender_pool is not None and recipe.needs_defender_data:
        x_def = as_records(defender_pool[0], what="defender_pool x")
        y_def = np.asarray(defender_pool[1]).astype(np.int64)
        if x_def.shape[1:] != record_shape or y_def.shape != (x_def.shape[0],):
            raise DataError(
                f"defender_pool must hold records of shape {record_shape} with one label "
                f"each, got x {x_def.shape} and y {y_def.shape}"
            )
        if x_def.shape[0] == 0:
            raise DataError("defender_pool is empty")
        n_defender_pool = int(x_def.shape[0])

    shared = _Shared(
        x_pool,
        y_pool,
        recipe,
        prepared,
        None if cache is None else str(cache),
        executor == "batched",
        x_def,
        y_def,
        fingerprint,
    )
    k = plan.num_models
    results: list[_Result | None] = [None] * k
    jobs: list[_Job] = []
    for j in range(k):
        idx = plan.train_indices[j]
        defender_idx = recipe.defender_indices(
            plan.out_indices[j], plan.seeds[j], defender_pool_size=n_defender_pool
        )
        key = None
        if fingerprint is not None:
            defender = None if defender_idx is None else shared.defender(defender_idx)
            key = _cache.model_key(
                x_pool[idx], y_pool[idx], fingerprint, plan.seeds[j], defender=defender
            )
        jobs.append(_Job(j, plan.seeds[j], key, idx, defender_idx))

    reported: set[str] = set()
    bar = tqdm(
        total=k, desc="reference models", unit="model", file=sys.stderr, disable=not progress
    )
    try:
        todo: list[_Job] = []
        for job in jobs:  # complete cache hits are read here, without any worker
            hit = _cached_result(job, shared)
            if hit is None:
                todo.append(job)
            else:
                results[job.index] = hit
                bar.update(1)
        if todo:
            stream = _dispatch(todo, shared, executor, n_workers, threads_per_model, address)
            try:
                for res in stream:
                    results[res.index] = res
                    _report(res, shared, reported)
                    bar.update(1)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # stops a process pool now (Ctrl-C), not when collected
    finally:
        bar.close()

    done = [r for r in results if r is not None]
    assert len(done) == k
    trained = np.array([r.trained for r in done], dtype=bool)
    return ReferenceRun(
        plan=plan,
        outputs=tuple(r.outputs for r in done),
        train_loss=np.array([r.train_loss for r in done], dtype=np.float64),
        cached=~trained,
        seconds=time.perf_counter() - start,
        train_flops=_train_flops(recipe, plan, record_shape, trained),
    )


def _report(res: _Result, shared: _Shared, reported: set[str]) -> None:
    """Re-emit a worker's CacheWarnings; warn once per call that the cache is unwritable."""
    for note in res.notes:
        warnings.warn(note, _cache.CacheWarning, stacklevel=4)
    if res.cache_error is not None and "unwritable" not in reported:
        reported.add("unwritable")
        warnings.warn(
            f"cannot write the reference-model cache {shared.cache_dir} ({res.cache_error}); "
            "the audit goes on without caching (models of this run are not saved)",
            _cache.CacheWarning,
            stacklevel=4,
        )


def _cached_result(job: _Job, shared: _Shared) -> _Result | None:
    """A complete cache hit, read in the calling process; None sends the job to a worker.

    Unusable entries and outputs files are discarded here, with their warnings, so the
    worker finds them absent."""
    if shared.cache_dir is None or job.key is None:
        return None
    entry = _cache.entry_dir(Path(shared.cache_dir), job.key)
    meta = _cache.read_meta(entry)
    if meta is None:
        return None
    outputs = {}
    for name, q in shared.queries.items():
        got = _cache.read_outputs(entry, q.qhash, meta)
        if got is not None:
            outputs[name] = got
    if len(outputs) < len(shared.queries):
        return None
    return _Result(job.index, outputs, float(meta["train_loss"]), trained=False)


def _dispatch(
    jobs: list[_Job],
    shared: _Shared,
    executor: str,
    workers: int,
    threads: int,
    address: str | None,
) -> Iterator[_Result]:
    if executor == "serial":
        return _serial(jobs, shared, threads)
    if executor == "process":
        return _process(jobs, shared, workers, threads)
    if executor == "ray":
        return _ray(jobs, shared, workers, threads, address)
    from miaudit.reference._batched import batched_results

    return batched_results(jobs, shared, threads, workers)
