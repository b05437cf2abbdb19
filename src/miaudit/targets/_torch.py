"""Target adapter for a torch ``nn.Module`` that maps a batch of records to logits."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from miaudit.errors import DataError
from miaudit.targets._base import Target
from miaudit.validation import check_int

_TORCH_CAPABILITIES = frozenset({"probabilities", "logits", "labels", "loss", "parameters"})


def module_description(module: nn.Module) -> str:
    """``module.describe()`` when the module has one (miaudit's MLP/CNN), else its class name."""
    describe = getattr(module, "describe", None)
    if callable(describe):
        return str(describe())
    return type(module).__name__


def _declared_classes(module: nn.Module) -> int | None:
    """C from ``module.num_classes``, or a final ``nn.Linear`` (alone or ending a Sequential)."""
    attr = getattr(module, "num_classes", None)
    if isinstance(attr, int) and not isinstance(attr, bool):
        return attr
    last = module
    while isinstance(last, nn.Sequential) and len(last) > 0:
        last = last[-1]
    if isinstance(last, nn.Linear) and last.out_features >= 2:
        return int(last.out_features)
    return None


class TorchTarget(Target):
    """A torch module whose output on a batch ``(n, ...)`` is logits ``(n, C)``.

    Queries run in eval mode under ``torch.no_grad`` in batches of ``batch_size`` records
    (the module's train/eval mode is restored afterwards). Inputs are converted to the
    dtype of the module's floating parameters (float32 for miaudit's models) and moved to
    their device.

    Args:
        module: the model.
        num_classes: C; when None it is taken from ``module.num_classes``, or from the
            final ``nn.Linear`` of a Linear/Sequential module, otherwise from the output
            width of the first query.
        batch_size: records per forward pass.
    """

    def __init__(
        self, module: nn.Module, *, num_classes: int | None = None, batch_size: int = 4096
    ) -> None:
        super().__init__(_TORCH_CAPABILITIES)
        if not isinstance(module, nn.Module):
            raise DataError(f"TorchTarget needs a torch.nn.Module, got {type(module).__name__}")
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        if num_classes is None:
            num_classes = _declared_classes(module)
        if num_classes is not None:
            num_classes = check_int(num_classes, "num_classes", low=2, error=DataError)
        self.module = module
        self.batch_size = batch_size
        self._num_classes = num_classes
        params = [p for p in module.parameters() if p.is_floating_point()]
        self._dtype = params[0].dtype if params else torch.float32
        self._device = params[0].device if params else torch.device("cpu")

    @property
    def num_classes(self) -> int:
        if self._num_classes is None:
            raise DataError(
                "the number of classes of this torch module is not known before its first "
                "query; pass num_classes=... to TorchTarget/as_target"
            )
        return self._num_classes

    @property
    def description(self) -> str:
        return f"torch {module_description(self.module)}"

    def _forward(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self._num_classes or 0), dtype=np.float64)
        np_dtype = np.float64 if self._dtype == torch.float64 else np.float32
        x = np.ascontiguousarray(x, dtype=np_dtype)
        chunks: list[np.ndarray] = []
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                for start in range(0, n, self.batch_size):
                    xb = torch.from_numpy(x[start : start + self.batch_size])
                    xb = xb.to(device=self._device, dtype=self._dtype)
                    try:
                        out = self.module(xb)
                    except RuntimeError as e:
                        raise DataError(
                            f"target {self.description} rejected records of shape "
                            f"{tuple(x.shape)} (batch {tuple(xb.shape)}): {e}"
                        ) from None
                    if not isinstance(out, torch.Tensor) or out.ndim != 2:
                        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)
                        raise DataError(
                            f"target {self.description} must return logits of shape "
                            f"(batch, classes), got {got}"
                        )
                    chunks.append(out.detach().to("cpu", torch.float64).numpy())
        finally:
            self.module.train(was_training)
        logits = np.concatenate(chunks, axis=0)
        if self._num_classes is None:
            if logits.shape[1] < 2:
                raise DataError(
                    f"target {self.description} returned {logits.shape[1]} output column(s); "
                    "a classifier needs logits for at least 2 classes"
                )
            self._num_classes = int(logits.shape[1])
        return logits

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)
