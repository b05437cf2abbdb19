"""Memory estimates: refuse a job that cannot fit before allocating it.

Issue 9 item 11: ``hidden: [100000000]`` ran 52 s and took 11 GB before failing, and
``random_queries: 1e11`` asked for a 14.6 TiB array. Where the sizes are known before the
allocation (a model's parameter count from its recipe and the data's shape, the number of
random queries, reference models or bootstrap resamples), the caller estimates the bytes and
calls :func:`require_memory`, which compares them with what this machine (and this process's
limits) can still give and raises a one-line :class:`~miaudit.errors.ResourceError` naming
the setting to change. Estimates are rough (within a factor of about two): they only have to
tell "fits" from "hopeless".
"""

from __future__ import annotations

import os
from pathlib import Path

from miaudit.errors import ResourceError

#: Bytes refused even when the machine's memory cannot be read (a petabyte is no config's
#: honest need).
HARD_LIMIT = 1 << 50
#: Environment variable capping the memory miaudit plans for (bytes, or with a K/M/G/T
#: suffix, powers of 1024), e.g. to leave room for other jobs.
ENV_LIMIT = "MIAUDIT_MAX_MEMORY"

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def format_bytes(n: float) -> str:
    """``n`` bytes for people: ``'356 GiB'``, ``'1.5 MiB'``."""
    for unit, scale in (("PiB", 1 << 50), ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{n / 1024:.3g} KiB" if n >= 1024 else f"{int(n)} bytes"


def available_memory() -> int | None:
    """Bytes this process can still allocate, or None when no limit can be read.

    The smallest of: the kernel's ``MemAvailable`` (``/proc/meminfo``; else
    ``os.sysconf`` available pages), the cgroup limit less its usage, the address-space
    limit (``RLIMIT_AS``) less the process's current size, and :data:`ENV_LIMIT`.
    """
    limits = [
        v
        for v in (_meminfo_available(), _cgroup_available(), _rlimit_available(), _env_limit())
        if v is not None
    ]
    return max(0, min(limits)) if limits else None


def require_memory(nbytes: float, what: str, fix: str) -> None:
    """Raise ResourceError when ``nbytes`` exceed :func:`available_memory`.

    Args:
        nbytes: the estimate, in bytes.
        what: what needs it, e.g. ``"target model mlp with hidden [100000000]"``.
        fix: what to change, e.g. ``"make the model smaller"``.
    """
    available = available_memory()
    limit = HARD_LIMIT if available is None else min(available, HARD_LIMIT)
    if nbytes > limit:
        have = (
            "no machine has that much"
            if available is None or available > HARD_LIMIT
            else f"this machine has {format_bytes(available)} available"
        )
        raise ResourceError(f"{what} needs about {format_bytes(nbytes)}; {have}; {fix}")


# --- estimates ------------------------------------------------------------------------------

#: float32 parameters, their gradients and Adam's two moments (SGD with momentum: three).
TRAINING_COPIES = 4


def training_bytes(parameters: int, activations_per_record: int, batch_size: int) -> int:
    """Training a float32 torch model: parameters, gradients and optimiser state, plus one
    batch of activations kept for the backward pass (about three floats per unit)."""
    return 4 * (TRAINING_COPIES * parameters + 3 * batch_size * activations_per_record)


def random_queries_bytes(n_queries: int, n_features: int) -> int:
    """Drawing ``n_queries`` random records: uniforms, the records and a float64 copy."""
    return 3 * 8 * n_queries * n_features


def bootstrap_bytes(n_resamples: int, n_records: int) -> int:
    """Stratified bootstrap indices: (resamples x records) int64, drawn then gathered."""
    return 2 * 8 * n_resamples * n_records


def outputs_bytes(num_models: int, n_records: int, num_classes: int, views: int = 1) -> int:
    """Outputs of ``num_models`` models on ``n_records`` records (float64 logits and
    probabilities per class and query view)."""
    return 2 * 8 * num_models * n_records * num_classes * views


# --- reading the limits ---------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_file)
        if limit is not None and limit < HARD_LIMIT:  # v1 writes a huge number for none
            usage = _read_int(usage_file) or 0
            return limit - usage
    return None


def _rlimit_available() -> int | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return soft - _vm_size()


def _vm_size() -> int:
    """The process's current virtual size (what RLIMIT_AS counts), 0 when unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _env_limit() -> int | None:
    text = os.environ.get(ENV_LIMIT, "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return None
    unit = text[-1] if text[-1] in _UNITS else ""
    number = text[: len(text) - len(unit)].strip()
    try:
        return int(float(number) * _UNITS[unit])
    except (ValueError, OverflowError):
        raise ResourceError(
            f"{ENV_LIMIT}={os.environ[ENV_LIMIT]!r} is not a size; write bytes or e.g. 8G"
        ) from None


__all__ = [
    "available_memory",
    "bootstrap_bytes",
    "format_bytes",
    "outputs_bytes",
    "random_queries_bytes",
    "require_memory",
    "training_bytes",
]
