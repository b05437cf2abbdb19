"""The "process" executor: a spawn process pool, one model per job.

Workers ignore SIGINT (issue 9 item 11: Ctrl-C reaches every process of the terminal's
process group, and workers interrupted while starting or reading a job printed tracebacks,
e.g. a spurious ``UnpicklingError``); the caller gets the KeyboardInterrupt and terminates
them. A worker that dies (killed, out of memory) ends in a one-line :class:`WorkerError`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import torch

from miaudit.errors import WorkerError
from miaudit.reference._jobs import Job, Resources, Result, Shared, run_in_worker

_WORKER_SHARED: Shared | None = None


def _init_worker(shared: Shared, threads: int) -> None:
    """A process-pool worker: SIGINT ignored (the caller stops workers on Ctrl-C; see
    :func:`process_results`), then the job data and the torch thread count."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started blocked (_sigint_deferred); now ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    global _WORKER_SHARED
    _WORKER_SHARED = shared
    torch.set_num_threads(threads)


def _worker_run(job: Job) -> Result:
    assert _WORKER_SHARED is not None, "worker not initialised"
    return run_in_worker(job, _WORKER_SHARED)


def process_results(jobs: list[Job], shared: Shared, resources: Resources) -> Iterator[Result]:
    """Run ``jobs`` on a spawn pool of ``resources.workers`` processes (at most one per
    job), each training with ``resources.threads`` torch threads; results as they finish."""
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(resources.workers, len(jobs)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(shared, resources.threads),
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
