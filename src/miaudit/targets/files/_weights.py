"""State dicts: read from a safetensors file (data only: tensors and a JSON header) or taken
from a TorchScript module, and loaded into the eager module of the model's recipe with every
name and shape checked."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from miaudit.errors import DataError, one_line


def read_safetensors(path: Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file ``path``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"{path.name} is not a readable safetensors file: {one_line(e)}") from None


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``module`` with the tensors of ``state`` (from ``source``) as its parameters and
    buffers: every name of the module present, no other name, every shape equal.

    Raises:
        DataError: naming the first missing, unexpected or mis-shaped tensors.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} (the recipe's is {tuple(v.shape)})"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        extra = ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
        problems.append(f"not in the recipe's module: {extra}")
    if shapes:
        problems.append(f"other shapes: {'; '.join(shapes[:3])}")
    if problems:
        raise DataError(
            f"the weights of {source} do not fit the model recipe ({'; '.join(problems)}); give "
            "the recipe the file was trained with"
        )
    module.load_state_dict(state, strict=True)
    return module
