"""One reference model's job: what travels to a worker, and how it is trained through the cache.

Every executor (:mod:`miaudit.reference._executors`) runs :func:`run_job` on each
:class:`Job` with the :class:`Shared` data (or, the batched one, trains the models itself
and hands each to :func:`finish`). A model's result depends only on its training records,
the recipe and its seed, so all executors agree.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.outputs import ModelOutputs
from miaudit.reference import _cache, _progress
from miaudit.reference._recipe import Recipe
from miaudit.targets import Target


@dataclass(frozen=True)
class Query:
    """A query set every model is evaluated on (``views``: its augmentations)."""

    x: np.ndarray
    y: np.ndarray
    views: tuple[np.ndarray, ...] | None
    qhash: str


@dataclass(frozen=True)
class Shared:
    """Data every job needs; sent once per worker (process initializer, ``ray.put``)."""

    x_pool: np.ndarray
    y_pool: np.ndarray
    recipe: Recipe
    queries: dict[str, Query]
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
class Job:
    """Model ``index`` of the plan: its seed, cache key and training records."""

    index: int
    seed: int
    key: str | None
    train_indices: np.ndarray
    #: indices of the defender's reference records (defenses fitted with defender data),
    #: into the defender pool when there is one, else into the training pool
    defender_indices: np.ndarray | None = None


@dataclass(frozen=True)
class Resources:
    """What an executor may use: ``workers`` side by side (process/Ray workers; the
    batched executor's torch threads), ``threads`` torch threads per model, the Ray
    cluster's ``address`` (None: a local Ray instance)."""

    workers: int
    threads: int
    address: str | None = None


@dataclass(frozen=True)
class Result:
    """A trained (or restored) model's outputs on every query set."""

    index: int
    outputs: dict[str, _cache.Answers]
    train_loss: float
    trained: bool
    #: CacheWarning messages raised in a worker, re-emitted by the calling process
    notes: tuple[str, ...] = ()
    #: why this model's cache entry could not be written (None: written, or no cache)
    cache_error: str | None = None
    #: wall seconds spent training it (and its training loss) and scoring its query sets
    #: in this call (0 for what came from the cache)
    train_seconds: float = 0.0
    score_seconds: float = 0.0


def writable(a: np.ndarray) -> np.ndarray:
    """Ray hands read-only zero-copy arrays to workers; torch.from_numpy warns about those."""
    return a if a.flags.writeable else a.copy()


def _evaluate(target: Target, query: Query, name: str, model: int) -> ModelOutputs:
    """The model's outputs on one query set (and on each of its views), reported on the
    progress bar (:mod:`miaudit.reference._progress`). An identity first view (as
    :func:`~miaudit.data.augment.image_views` gives) is scored once: its outputs are the
    plain query's."""
    views = query.views or ()
    report = _progress.Scoring(f"{name} records", len(query.y), max(1, len(views)), model)
    if not views:
        return target.outputs(writable(query.x), query.y)
    outs = []
    for i, v in enumerate(views):
        outs.append(target.outputs(writable(v), query.y))
        report.view_done(i + 1)
    if np.array_equal(views[0], query.x):
        out = outs[0]
    else:
        out = target.outputs(writable(query.x), query.y)
    return ModelOutputs(probs=out.probs, y=out.y, logits=out.logits, augmented=tuple(outs))


def _meta(shared: Shared, job: Job, loss: float) -> dict[str, Any]:
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


def _train(job: Job, shared: Shared) -> Target:
    """Train job's model; with an inference-time defense, the defended (wrapped) model."""
    idx = job.train_indices
    defender = None
    if job.defender_indices is not None:
        x_def, y_def = shared.defender(job.defender_indices)
        defender = (writable(x_def), y_def)
    x = writable(shared.x_pool[idx])
    _progress.training(job.index, int(idx.size))
    return shared.recipe.train(x, shared.y_pool[idx], job.seed, defender=defender)


def run_job(job: Job, shared: Shared) -> Result:
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
    start = time.perf_counter()
    target = _train(job, shared)
    return finish(job, shared, target, x_train, y_train, trained_in=time.perf_counter() - start)


def _resume(job: Job, shared: Shared, entry: Path, meta: dict[str, Any]) -> Result | None:
    """A model from its cache entry: the cached outputs, the missing (or discarded) ones
    computed from the cached weights, or by retraining (deterministic) where the entry has
    none. None when the weights turn out unusable (the entry is discarded: retrain all)."""
    recipe = shared.recipe
    outputs: dict[str, _cache.Answers] = {}
    for name, q in shared.queries.items():
        got = _cache.read_outputs(entry, q.qhash, meta)
        if got is not None:
            outputs[name] = got
    missing = [name for name in shared.queries if name not in outputs]
    if not missing:
        return Result(job.index, outputs, float(meta["train_loss"]), trained=False)
    target: Target
    train_seconds = 0.0
    if recipe.can_rebuild() and meta["has_weights"]:
        weights = _cache.read_weights(entry, meta)
        if weights is None:
            return None
        target, trained = recipe.rebuild(weights, tuple(shared.x_pool.shape[1:])), False
    else:  # no weights to load (sklearn, train_fn, defended): retrain, deterministic
        start = time.perf_counter()
        target, trained = _train(job, shared), True
        train_seconds = time.perf_counter() - start
    error = None
    start = time.perf_counter()
    assert shared.cache_dir is not None and job.key is not None
    for name in missing:
        q = shared.queries[name]
        outputs[name] = _evaluate(target, q, name, job.index)
        if error is None:
            error = _try_write(
                _cache.add_outputs, Path(shared.cache_dir), job.key, q.qhash, outputs[name]
            )
    ordered = {name: outputs[name] for name in shared.queries}
    loss = float(meta["train_loss"])
    return Result(
        job.index,
        ordered,
        loss,
        trained=trained,
        cache_error=error,
        train_seconds=train_seconds,
        score_seconds=time.perf_counter() - start,
    )


def _try_write(write: Callable[..., None], *args: Any) -> str | None:
    """Run a cache write; an OSError (full disk, no permission, read-only file system)
    becomes its message: the audit goes on without caching (issue 9 item 2)."""
    try:
        write(*args)
    except OSError as exc:
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return None


def finish(
    job: Job,
    shared: Shared,
    target: Target,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    trained_in: float = 0.0,
) -> Result:
    """Evaluate a freshly trained model on every query set and write its cache entry
    (``trained_in``: the seconds its training took, for the timings)."""
    start = time.perf_counter()
    loss = shared.recipe.train_loss(target, x_train, y_train)
    scoring = time.perf_counter()
    outputs = {name: _evaluate(target, q, name, job.index) for name, q in shared.queries.items()}
    train_seconds = trained_in + scoring - start
    score_seconds = time.perf_counter() - scoring
    error = None
    if shared.cache_dir is not None and job.key is not None:
        state = shared.recipe.weights(target)
        by_hash = {shared.queries[n].qhash: o for n, o in outputs.items()}
        meta = _meta(shared, job, loss)
        error = _try_write(
            _cache.write_entry, Path(shared.cache_dir), job.key, meta, state, by_hash
        )
    return Result(
        job.index,
        outputs,
        loss,
        trained=True,
        cache_error=error,
        train_seconds=train_seconds,
        score_seconds=score_seconds,
    )


def cached_result(job: Job, shared: Shared) -> Result | None:
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
    return Result(job.index, outputs, float(meta["train_loss"]), trained=False)


def run_in_worker(job: Job, shared: Shared) -> Result:
    """:func:`run_job` in a worker: its CacheWarnings travel back with the result (the
    caller re-emits them, so they reach the user and ``warnings`` filters, even from Ray
    workers whose output is not shown); other warnings are shown here as usual."""
    show = warnings.showwarning
    with warnings.catch_warnings(record=True) as caught:
        res = run_job(job, shared)
    notes = []
    for w in caught:
        if issubclass(w.category, _cache.CacheWarning):
            notes.append(str(w.message))
        else:
            show(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return replace(res, notes=tuple(notes)) if notes else res
