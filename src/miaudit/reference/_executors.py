"""The executors that train a plan's models, registered by name (defined here once).

Each :class:`Executor` runs a list of :class:`~miaudit.reference._jobs.Job` with the
:class:`~miaudit.reference._jobs.Resources` it uses and yields their results as they finish;
:func:`~miaudit.reference.train_references` looks the name up here, so a new executor is one
:func:`register` call. All per-model executors give the same results bit for bit (each model
depends only on its records, recipe, seed and thread count); the batched one agrees up to
float rounding and so keeps its models under their own cache keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from miaudit.errors import ConfigError
from miaudit.reference._batched import batched_results, check_batchable
from miaudit.reference._jobs import Job, Resources, Result, Shared, run_job
from miaudit.reference._pool import process_results
from miaudit.reference._ray import ray_results
from miaudit.reference._recipe import Recipe
from miaudit.reference._threads import torch_threads
from miaudit.registry import Registry


@dataclass(frozen=True)
class Executor:
    """One way to train a plan's models.

    Attributes:
        name: the ``executor=`` value (and the config's ``reference.executor``).
        run: ``run(jobs, shared, resources)`` -> the jobs' results, in any order (its
            docstring says which :class:`Resources` it reads).
        batched: trains models together, equal to per-model training only up to rounding:
            its cache entries get their own keys (recipe fingerprint + ``"|batched"``).
        check: raises ConfigError, before anything trains, for a recipe it cannot train.
    """

    name: str
    run: Callable[[list[Job], Shared, Resources], Iterator[Result]]
    batched: bool = False
    check: Callable[[Recipe], None] | None = None


REGISTRY: Registry[Executor] = Registry("executor", ordered=True)


def register(executor: Executor) -> Executor:
    """Add ``executor`` under its name (names are unique)."""
    REGISTRY.add(executor.name, executor)
    return executor


def get_executor(name: str) -> Executor:
    """The executor called ``name``; ConfigError listing the valid names otherwise."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown executor {name!r}; valid: {', '.join(REGISTRY)}")
    return REGISTRY.get(name)


def serial_results(jobs: list[Job], shared: Shared, resources: Resources) -> Iterator[Result]:
    """Train ``jobs`` one after another in this process with ``resources.threads`` torch
    threads (torch's previous count is restored afterwards)."""
    with torch_threads(resources.threads):
        for job in jobs:
            yield run_job(job, shared)


register(Executor("serial", serial_results))
register(Executor("process", process_results))
register(Executor("ray", ray_results))
register(Executor("batched", batched_results, batched=True, check=check_batchable))

#: the built-in executors' names, in registration order
EXECUTORS = tuple(REGISTRY)
