"""Pickle-based files, opened only with the explicit opt-in ``allow_pickle=True`` (see
:mod:`miaudit.targets.files._detect`: loading a pickle runs the code it names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from miaudit.errors import DataError, one_line
from miaudit.targets.files._detect import zip_names


def load_pickled(path: Path, found: str, device: str) -> Any:
    """The object pickled in ``path``: ``torch.load(weights_only=False)`` for a
    ``torch.save`` file (named .pt/.pth, or a zip archive whatever its name), ``joblib.load``
    (which reads plain pickles too) otherwise."""
    try:
        if found == "torch_pickle" or zip_names(path) is not None:
            import torch

            return torch.load(str(path), map_location=device, weights_only=False)
        import joblib

        return joblib.load(path)
    except Exception as e:  # noqa: BLE001 -- unpickling can raise anything
        raise DataError(f"cannot unpickle {path.name}: {type(e).__name__}: {one_line(e)}") from None
