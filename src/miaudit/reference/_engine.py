"""Train the models of a :class:`ReferencePlan` through the cache, with a registered executor.

Every model's result depends only on its training records, the recipe and its seed, so all
executors (:mod:`miaudit.reference._executors`: serial, process pool, Ray, batched) give the
same outputs, bit for bit, provided each model trains with the same number of torch threads.
That number matters: on torch 2.13 CPU (x86) training the same small MLP with 1 and with 2
threads gave different weights for one model in four (float rounding, train loss differing
at 3e-10), while the benchmark MLP happened to agree. So the thread count is explicit:
``threads_per_model`` (default 1) is set in every executor, including serial (torch's
previous setting is restored afterwards). Parallelism comes from running models side by
side (process/Ray workers) or from the batched executor.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.reference import _cache, _progress
from miaudit.reference._executors import EXECUTORS, Executor, get_executor, serial_results
from miaudit.reference._jobs import Job, Query, Resources, Result, Shared, cached_result
from miaudit.reference._plan import ReferencePlan
from miaudit.reference._recipe import LM_RECIPES, Recipe, TrainRecipe
from miaudit.targets._base import as_records
from miaudit.validation import check_int

__all__ = ["EXECUTORS", "ReferenceRun", "train_references"]


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
        train_seconds, score_seconds: float64 (num_models,), wall seconds each model spent
            training (with its training loss) and scoring its query sets in this call (0
            for what came from the cache; the batched executor counts the stack's training
            in none of them).
    """

    plan: ReferencePlan
    outputs: tuple[dict[str, ModelOutputs], ...]
    train_loss: np.ndarray
    cached: np.ndarray
    seconds: float
    train_flops: float | None
    train_seconds: np.ndarray | None = None
    score_seconds: np.ndarray | None = None

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


# -- checks of the inputs ---------------------------------------------------------------


def _positive(value: object, what: str) -> int:
    return check_int(value, what, low=1)


def _prepare_queries(
    queries: Mapping[str, tuple[np.ndarray, np.ndarray]],
    augment: Callable[[np.ndarray], list[np.ndarray]] | None,
    record_shape: tuple[int, ...],
    num_classes: int,
    plain: Collection[str] = (),
) -> dict[str, Query]:
    if not isinstance(queries, Mapping):
        raise ConfigError("queries must be a mapping name -> (x, y)")
    unknown = sorted(set(map(str, plain)) - set(map(str, queries)))
    if unknown:
        raise ConfigError(f"plain names query sets that are not queried: {', '.join(unknown)}")
    prepared: dict[str, Query] = {}
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
        if augment is not None and str(name) not in plain:
            views = tuple(np.asarray(v) for v in augment(x))
            if not views or any(v.shape != x.shape for v in views):
                raise DataError(
                    f"augment must return a non-empty list of arrays shaped like x {x.shape}"
                )
        y = y.astype(np.int64)
        prepared[str(name)] = Query(x, y, views, _cache.query_hash(x, y, views))
    return prepared


def _train_flops(
    recipe: Recipe, plan: ReferencePlan, record_shape: tuple[int, ...], trained: np.ndarray
) -> float | None:
    n_params = recipe.mlp_params(math.prod(record_shape))
    if n_params is None:
        return None
    epochs = int(recipe.full_params()["epochs"])
    samples = sum(int(plan.train_indices[j].size) for j in np.flatnonzero(trained))
    return 6.0 * n_params * samples * epochs


# -- the public entry point ----------------------------------------------------------------


def train_references(
    plan: ReferencePlan,
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    recipe: Recipe,
    *,
    queries: Mapping[str, tuple[np.ndarray, np.ndarray]],
    augment: Callable[[np.ndarray], list[np.ndarray]] | None = None,
    plain: Collection[str] = (),
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
        queries: named query sets ``name -> (x, y)`` every model is evaluated on (only
            what the attacks read: the pipeline leaves out what no attack reads; an empty
            mapping trains the models for their training losses only).
        augment: ``augment(x) -> [view, ...]``; every query set (but those in ``plain``)
            is also evaluated on each view (computed once here, shared by all models) and
            the outputs carry ``ModelOutputs.augmented``.
        plain: names of query sets evaluated without the augmented views (RMIA's
            population records z, GMIA's neighbour pool).
        executor: a name of :data:`EXECUTORS`: "serial" (in process), "process" (a spawn
            process pool), "ray" (Ray tasks) or "batched" (built-in MLP recipes: k models
            trained together as one batched network; numerically equivalent within float
            tolerance, not bitwise).
        workers: parallel workers for process/ray (default ``os.cpu_count()``).
        address: Ray cluster address; None starts a local Ray instance (shut down again
            afterwards) unless Ray is already initialised.
        cache_dir: content-addressed cache (see :mod:`miaudit.reference._cache`); finished
            models are reused, so a killed run resumes where it stopped. Every file is
            checked against its checksum when read; an unusable entry or file is discarded
            and recomputed with a :class:`~miaudit.reference.CacheWarning`, and a cache that
            cannot be written (full disk, no permission) warns once and the run goes on
            without it.
        progress: tqdm bar "reference models" on stderr, saying what is trained and scored
            ("scoring 69,000 population records x 10 views with reference model 2/4"), with
            an estimate before a long step (:mod:`miaudit.reference._progress`).
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
    if not isinstance(recipe, (TrainRecipe, *LM_RECIPES)):
        raise ConfigError(f"recipe must be a TrainRecipe, got {type(recipe).__name__}")
    runner = get_executor(executor)
    x_pool, y_pool = _check_pool(plan, x_pool, y_pool)
    query_max = max((int(np.max(q[1])) for q in queries.values() if len(q[1])), default=0)
    recipe = recipe.with_classes(max(int(y_pool.max()), query_max, 1) + 1)
    resources = Resources(
        workers=(os.cpu_count() or 1) if workers is None else _positive(workers, "workers"),
        threads=_positive(threads_per_model, "threads_per_model"),
        address=address,
    )
    record_shape = tuple(x_pool.shape[1:])
    prepared = _prepare_queries(queries, augment, record_shape, recipe.num_classes, plain)
    if runner.check is not None:
        runner.check(recipe)
    fingerprint = None
    if cache_dir is not None:  # a train_fn that cannot be fingerprinted refuses to be cached
        fingerprint = recipe.fingerprint()
        if runner.batched:
            fingerprint += "|batched"  # equal to per-model training up to rounding only
    x_def, y_def = _defender_records(defender_pool, recipe, record_shape)
    shared = Shared(
        x_pool,
        y_pool,
        recipe,
        prepared,
        cache_dir=None if cache_dir is None else str(Path(cache_dir)),
        batched=runner.batched,
        x_defender=x_def,
        y_defender=y_def,
        fingerprint=fingerprint,
    )
    results = _collect(_jobs(plan, shared), shared, runner, resources, progress)
    trained = np.array([r.trained for r in results], dtype=bool)
    return ReferenceRun(
        plan=plan,
        outputs=tuple(r.outputs for r in results),
        train_loss=np.array([r.train_loss for r in results], dtype=np.float64),
        cached=~trained,
        seconds=time.perf_counter() - start,
        train_flops=_train_flops(recipe, plan, record_shape, trained),
        train_seconds=np.array([r.train_seconds for r in results], dtype=np.float64),
        score_seconds=np.array([r.score_seconds for r in results], dtype=np.float64),
    )


def _check_pool(
    plan: ReferencePlan, x_pool: np.ndarray, y_pool: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pool as records and int64 labels, or a DataError naming what does not fit."""
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
    return x_pool, y_pool


def _defender_records(
    defender_pool: tuple[np.ndarray, np.ndarray] | None,
    recipe: Recipe,
    record_shape: tuple[int, ...],
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The defender pool's records when the recipe's defense reads defender data, else None."""
    if defender_pool is None or not recipe.needs_defender_data:
        return None, None
    x_def = as_records(defender_pool[0], what="defender_pool x")
    y_def = np.asarray(defender_pool[1]).astype(np.int64)
    if x_def.shape[1:] != record_shape or y_def.shape != (x_def.shape[0],):
        raise DataError(
            f"defender_pool must hold records of shape {record_shape} with one label "
            f"each, got x {x_def.shape} and y {y_def.shape}"
        )
    if x_def.shape[0] == 0:
        raise DataError("defender_pool is empty")
    return x_def, y_def


def _jobs(plan: ReferencePlan, shared: Shared) -> list[Job]:
    """One job per model of the plan: its seed, records, defender records and cache key."""
    n_defender_pool = None if shared.x_defender is None else int(shared.x_defender.shape[0])
    jobs = []
    for j in range(plan.num_models):
        idx = plan.train_indices[j]
        defender_idx = shared.recipe.defender_indices(
            plan.out_indices[j], plan.seeds[j], defender_pool_size=n_defender_pool
        )
        key = None
        if shared.fingerprint is not None:
            defender = None if defender_idx is None else shared.defender(defender_idx)
            key = _cache.model_key(
                shared.x_pool[idx],
                shared.y_pool[idx],
                shared.fingerprint,
                plan.seeds[j],
                defender=defender,
            )
        jobs.append(Job(j, plan.seeds[j], key, idx, defender_idx))
    return jobs


def _collect(
    jobs: list[Job], shared: Shared, runner: Executor, resources: Resources, progress: bool
) -> list[Result]:
    """Every job's result, in plan order: complete cache hits read here, without any
    worker; the rest from ``runner``."""
    results: list[Result | None] = [None] * len(jobs)
    reported: set[str] = set()
    bar = tqdm(
        total=len(jobs),
        desc="reference models",
        unit="model",
        file=sys.stderr,
        disable=not progress,
    )
    parallel = 1 if runner.run is serial_results else resources.workers
    status = _progress.Status(bar, len(jobs), parallel) if progress else None
    if status is not None and runner.batched:
        status.estimated = True  # its models finish together: no per-model estimate
    try:
        todo: list[Job] = []
        for job in jobs:
            hit = cached_result(job, shared)
            if hit is None:
                todo.append(job)
            else:
                results[job.index] = hit
                bar.update(1)
        if todo:
            with _progress.reporting(status):
                _run_todo(todo, results, shared, runner, resources, reported, bar, status)
    finally:
        if status is not None:
            status.say("reference models")  # the finished bar says what it counted
        bar.close()
    done = [r for r in results if r is not None]
    assert len(done) == len(jobs)
    return done


def _run_todo(
    todo: list[Job],
    results: list[Result | None],
    shared: Shared,
    runner: Executor,
    resources: Resources,
    reported: set[str],
    bar: tqdm,
    status: _progress.Status | None,
) -> None:
    """Run the jobs that the cache did not answer; after the first, estimate the rest."""
    if status is not None:
        status.started = time.perf_counter()
    stream = runner.run(todo, shared, resources)
    try:
        for done, res in enumerate(stream, start=1):
            results[res.index] = res
            _report(res, shared, reported)
            bar.update(1)
            if status is not None and done == 1:
                status.first_done(len(todo) - 1)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops a process pool now (Ctrl-C), not when collected


def _report(res: Result, shared: Shared, reported: set[str]) -> None:
    """Re-emit a worker's CacheWarnings; warn once per call that the cache is unwritable."""
    for note in res.notes:
        warnings.warn(note, _cache.CacheWarning, stacklevel=5)
    if res.cache_error is not None and "unwritable" not in reported:
        reported.add("unwritable")
        warnings.warn(
            f"cannot write the reference-model cache {shared.cache_dir} ({res.cache_error}); "
            "the audit goes on without caching (models of this run are not saved)",
            _cache.CacheWarning,
            stacklevel=5,
        )
