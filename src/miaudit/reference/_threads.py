"""The torch thread count every executor trains with.

On torch 2.13 CPU (x86) training the same small MLP with 1 and with 2 threads gave different
weights for one model in four (float rounding), so every executor sets the count explicitly
(``threads_per_model``) and the serial one restores torch's previous setting afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` torch threads, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
