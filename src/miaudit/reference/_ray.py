"""The "ray" executor: one Ray task per model, on a local Ray instance or a cluster."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from miaudit.errors import ConfigError
from miaudit.reference._jobs import Job, Resources, Result, Shared, run_in_worker


def _ray_run(job: Job, shared: Shared, threads: int) -> Result:
    torch.set_num_threads(threads)
    return run_in_worker(job, shared)


def ray_results(jobs: list[Job], shared: Shared, resources: Resources) -> Iterator[Result]:
    """Run ``jobs`` as Ray tasks of ``resources.threads`` CPUs each, results as they finish.

    Ray is started for the call (``resources.workers * threads`` CPUs, or the cluster at
    ``resources.address``) and shut down again, unless it is already initialised."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'miaudit[ray]'") from None
    workers, threads, address = resources.workers, resources.threads, resources.address
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
