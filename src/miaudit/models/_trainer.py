"""Seeded, fast full-tensor training loop for torch classifiers."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.outputs import check_labels
from miaudit.validation import check_int

OPTIMIZERS = ("adam", "sgd")

#: ``loss_fn(logits, labels) -> scalar loss`` of :func:`train_torch`
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``on_epoch_end(epoch, mean_training_loss) -> stop`` (epoch counts from 1)
EpochCallback = Callable[[int, float], bool]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_torch` (validated on construction).

    Attributes:
        epochs: passes over the training set.
        batch_size: records per optimisation step (the last batch of an epoch may be smaller).
        optimizer: "adam" or "sgd".
        lr: learning rate.
        momentum: SGD momentum (ignored by Adam).
        weight_decay: L2 penalty passed to the optimizer.
        seed: seeds the weight initialisation, the shuffling and dropout.
    """

    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid field."""
        for name in ("epochs", "batch_size"):
            check_int(getattr(self, name), name, low=1)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {short_repr(self.optimizer)}; valid: {', '.join(OPTIMIZERS)}"
            )
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                hint = " (in YAML write 1.0e-3, not 1e-3)" if isinstance(value, str) else ""
                raise ConfigError(f"{name} must be a finite number, got {short_repr(value)}{hint}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {short_repr(self.lr)}")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {short_repr(self.momentum)}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {short_repr(self.weight_decay)}")
        check_int(self.seed, "seed", low=0, high=2**63 - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer; fused kernels on CPU/CUDA (about 1.7x faster per step than Adam's loop)."""
    params = [p for p in module.parameters() if p.requires_grad]
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    if config.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None
        )
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        fused=fused or None,
    )


def reset_parameters(module: nn.Module) -> None:
    """Re-initialise every submodule that has ``reset_parameters`` (from the current RNG)."""
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s floating-point parameters (the CPU when it has none)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.device
    return torch.device("cpu")


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with the global torch RNG seeded by ``seed``, restored afterwards.

    Forks the CPU generator, and the CUDA one of ``device`` when it is a CUDA device (the
    stream dropout masks are drawn from), so the caller's RNG state is left untouched.
    """
    devices: list[int] = []
    if device is not None and device.type == "cuda":
        devices = [torch.cuda.current_device() if device.index is None else device.index]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def batches(
    n: int, batch_size: int, gen: torch.Generator, device: torch.device | None = None
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch from a ``gen`` permutation (the last may be smaller)."""
    perm = torch.randperm(n, generator=gen)
    if device is not None:
        perm = perm.to(device)
    for start in range(0, n, batch_size):
        yield perm[start : start + batch_size]


def check_finite(mean_loss: float, epoch: int, config: TrainConfig) -> None:
    """ConfigError when training diverged (``epoch`` counts from 0)."""
    if not math.isfinite(mean_loss):
        raise ConfigError(
            f"training diverged: the loss is {mean_loss} in epoch {epoch + 1}; "
            f"lower the learning rate (lr={config.lr})"
        )


def train_torch(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    loss_fn: LossFn = nn.functional.cross_entropy,
    reinit: bool = True,
    on_epoch_end: EpochCallback | None = None,
    progress: bool = False,
    desc: str = "train",
) -> nn.Module:
    """Train ``module`` (records -> logits) with mini-batch ``loss_fn``; return it in eval mode.

    Deterministic on CPU for a given ``config.seed``: the weights are re-initialised from
    the seed, batches are drawn from a ``torch.Generator(seed)`` permutation each epoch and
    dropout masks come from the same seeded stream, all inside ``torch.random.fork_rng`` so
    the global RNG state is left untouched. Data are converted to tensors once (float32,
    or the module's floating dtype) and batches are indexed from the permutation (no
    DataLoader). The number of torch threads is the caller's setting (``torch.set_num_threads``).

    Args:
        module: the model; trained in place (its previous weights are discarded unless
            ``reinit`` is False).
        x: records (n, ...), any shape the module accepts.
        y: integer labels (n,) in ``[0, C)`` where C is the module's output width.
        config: hyper-parameters and seed.
        loss_fn: ``loss_fn(logits, labels)``, the mean loss of a batch (default
            cross-entropy; e.g. label-smoothed cross-entropy for that defense).
        reinit: re-initialise the weights from ``config.seed`` first; False continues from
            the current weights (fine-tuning; the seed still drives shuffling and dropout).
        on_epoch_end: ``on_epoch_end(epoch, mean_loss) -> stop``, called after each epoch
            (from 1) with the mean training loss, in training mode; True stops training
            (early stopping).
        progress: show a tqdm bar over epochs on stderr.
        desc: label of the progress bar.

    Raises:
        DataError: bad arrays, labels outside the module's classes, or records the module
            cannot process. ConfigError: training diverged (non-finite loss).
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"cannot train on an empty dataset (x has shape {x.shape})")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"x must be a numeric array, got dtype {x.dtype}")
    n = x.shape[0]
    y = np.asarray(y)
    if y.shape != (n,):
        raise DataError(f"mismatched lengths: {n} records but labels of shape {y.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError("training records x contain NaN or inf")

    params = [p for p in module.parameters() if p.is_floating_point()]
    if not params:
        raise DataError(f"{type(module).__name__} has no trainable floating-point parameters")
    dtype, device = params[0].dtype, params[0].device
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np_dtype)).to(device)

    with seeded(config.seed, device):
        if reinit:
            reset_parameters(module)

        module.eval()
        with torch.no_grad():
            try:
                probe = module(xt[:2])
            except RuntimeError as e:
                raise DataError(
                    f"{type(module).__name__} cannot process records of shape {tuple(x.shape)}: {e}"
                ) from None
        if not isinstance(probe, torch.Tensor) or probe.ndim != 2:
            got = tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe)
            raise DataError(
                f"{type(module).__name__} must return logits (batch, classes), got {got}"
            )
        yt = torch.from_numpy(check_labels(y, int(probe.shape[1]), what="training labels"))
        yt = yt.to(device)

        optimizer = make_optimizer(module, config)
        gen = torch.Generator(device="cpu").manual_seed(config.seed)
        module.train()
        epochs = tqdm(
            range(config.epochs), desc=desc, leave=False, file=sys.stderr, disable=not progress
        )
        for epoch in epochs:
            total = torch.zeros((), dtype=torch.float64, device=device)
            for idx in batches(n, config.batch_size, gen, device):
                loss = loss_fn(module(xt[idx]), yt[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * idx.numel()
            mean_loss = float(total) / n
            check_finite(mean_loss, epoch, config)
            if progress:
                epochs.set_postfix(loss=f"{mean_loss:.4f}")
            if on_epoch_end is not None and on_epoch_end(epoch + 1, mean_loss):
                break
        epochs.close()
    return module.eval()
