"""Shared helpers for the benchmark scripts: machine description and matmul throughput."""

from __future__ import annotations

import os
import platform
import time

import torch


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Measured fp32 GFLOP/s of a large torch matmul on this machine (best of ``repeats``)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
