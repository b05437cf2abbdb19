"""Shared torch training path of the training-time defenses (l2, dropout, early stopping,
label smoothing, pruning, DP-SGD, dimensionality reduction).

:func:`prepare_torch` validates ``(model, params, x, y, num_classes, seed)`` exactly as
:func:`miaudit.models.train_model` does and builds the seeded MLP/CNN, and :func:`fit` is a
training loop that mirrors :func:`miaudit.models.train_torch` step for step (same seeded
re-initialisation inside ``torch.random.fork_rng``, same ``torch.Generator(seed)`` batch
permutation, same fused optimizer), so with the plain cross-entropy loss it gives the same
weights byte for byte. What it adds, for the defenses:

* ``loss_fn``: a different training loss (label smoothing);
* ``reinit=False``: continue training the current weights (pruning's fine-tuning);
* ``on_epoch_end``: a callback after each epoch that may stop training (early stopping).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from miaudit.errors import ConfigError, DataError
from miaudit.models import MODELS, TrainConfig, build_torch_module, model_records, torch_models
from miaudit.models._trainer import TRAIN_FIELDS, _make_optimizer, reset_parameters
from miaudit.models._zoo import check_training_inputs
from miaudit.outputs import check_labels

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``on_epoch_end(epoch, mean_training_loss) -> stop`` (epoch counts from 1)
EpochCallback = Callable[[int, float], bool]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, the loss of :func:`miaudit.models.train_torch`."""
    return nn.functional.cross_entropy(logits, y)


def check_inputs(
    model: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, num_classes: int, seed: int
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Validate like :func:`miaudit.models.train_model`; return (complete params, x, y).

    Raises:
        UnknownNameError: unknown model. ConfigError: unknown/invalid parameter, num_classes
        or seed. DataError: malformed x or y.
    """
    return check_training_inputs(model, params, x, y, num_classes, seed)


def require_torch_model(model: str, defense: str) -> None:
    """ConfigError unless ``model`` is one of miaudit's torch models (mlp, cnn, ...)."""
    MODELS.get(model)  # unknown names: UnknownNameError listing the valid ones
    if model not in torch_models():
        raise ConfigError(
            f"defense {defense!r} trains a torch model; model {model!r} is not one "
            f"(use {' or '.join(repr(m) for m in torch_models())})"
        )


def override_param(
    params: dict[str, Any], key: str, value: Any, *, defense: str, param: str
) -> dict[str, Any]:
    """``params`` with ``params[key] = value``; ConfigError if the user set a different value.

    The defense's own parameter (e.g. l2's ``weight_decay``) decides the model parameter of the
    same meaning; a conflicting explicit model parameter is an error, not silently dropped.
    """
    if key in params and params[key] != value:
        raise ConfigError(
            f"model parameter {key}={params[key]!r} conflicts with defense {defense!r} "
            f"({param}={value!r}); set it only through the defense"
        )
    return {**params, key: value}


@dataclass
class TorchSetup:
    """A seeded, untrained module and its training inputs (from :func:`prepare_torch`).

    Attributes:
        module: the MLP or CNN (freshly built from ``seed``).
        x: the records in the shape the module reads (flattened for the MLP).
        y: int64 labels.
        config: training hyper-parameters with ``seed``.
    """

    module: nn.Module
    x: np.ndarray
    y: np.ndarray
    config: TrainConfig


def prepare_torch(
    model: str,
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    defense: str,
) -> TorchSetup:
    """Validate the inputs, split architecture from training parameters, build the module.

    The same split and seeded construction as :func:`miaudit.models.train_model` (so a
    defense whose knob is zero trains the same model as no defense).

    Raises:
        ConfigError: ``model`` is not a torch model, or bad parameters. DataError: bad data.
    """
    require_torch_model(model, defense)
    full, x, y = check_inputs(model, params, x, y, num_classes, seed)
    arch = {k: v for k, v in full.items() if k not in TRAIN_FIELDS}
    train = {k: v for k, v in full.items() if k in TRAIN_FIELDS}
    config = TrainConfig(**train, seed=int(seed))
    module = build_torch_module(model, arch, x.shape[1:], num_classes, int(seed))
    return TorchSetup(module=module, x=model_records(model, x), y=y, config=config)


def as_tensor(module: nn.Module, x: np.ndarray) -> torch.Tensor:
    """Records as a tensor of the module's floating dtype and device."""
    p = next(p for p in module.parameters() if p.is_floating_point())
    np_dtype = np.float64 if p.dtype == torch.float64 else np.float32
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np_dtype)).to(p.device)


def mean_loss(
    module: nn.Module, x: np.ndarray, y: np.ndarray, loss_fn: LossFn = cross_entropy
) -> float:
    """Mean loss of ``module`` on ``(x, y)`` in eval mode, without gradients (mode restored)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            xt = as_tensor(module, x)
            yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(xt.device)
            return float(loss_fn(module(xt), yt))
    finally:
        module.train(was_training)


def fit(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    *,
    loss_fn: LossFn = cross_entropy,
    reinit: bool = True,
    on_epoch_end: EpochCallback | None = None,
    progress: bool = False,
    desc: str = "train",
) -> int:
    """Train ``module`` with mini-batch ``loss_fn``; leave it in eval mode; return epochs run.

    Mirrors :func:`miaudit.models.train_torch` (deterministic on CPU for ``config.seed``;
    the global RNG state is left untouched). With ``reinit=False`` the current weights are
    kept (the seed still drives the shuffling and dropout). ``on_epoch_end(epoch, loss)`` is
    called after each epoch with the mean training loss; returning True stops training.

    Raises:
        DataError: empty data or labels outside the module's classes. ConfigError: training
        diverged (non-finite loss).
    """
    config.validate()
    n = x.shape[0]
    if n == 0:
        raise DataError("cannot train on an empty dataset")
    xt = as_tensor(module, x)
    device = xt.device
    rng_devices: list[int] = []
    if device.type == "cuda":
        rng_devices = [torch.cuda.current_device() if device.index is None else device.index]
    epochs_run = 0
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(config.seed)
        if reinit:
            reset_parameters(module)
        module.eval()
        with torch.no_grad():
            width = int(module(xt[:2]).shape[1])
        yt = torch.from_numpy(check_labels(y, width, what="training labels")).to(device)
        optimizer = _make_optimizer(module, config)
        gen = torch.Generator(device="cpu").manual_seed(config.seed)
        bs = config.batch_size
        module.train()
        bar = tqdm(
            range(config.epochs), desc=desc, leave=False, file=sys.stderr, disable=not progress
        )
        for epoch in bar:
            perm = torch.randperm(n, generator=gen).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, n, bs):
                idx = perm[start : start + bs]
                loss = loss_fn(module(xt[idx]), yt[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * idx.numel()
            epochs_run = epoch + 1
            mean = float(total) / n
            if not math.isfinite(mean):
                raise ConfigError(
                    f"training diverged: the loss is {mean} in epoch {epochs_run}; "
                    f"lower the learning rate (lr={config.lr})"
                )
            if progress:
                bar.set_postfix(loss=f"{mean:.4f}")
            if on_epoch_end is not None and on_epoch_end(epochs_run, mean):
                break
        bar.close()
    module.eval()
    return epochs_run


def with_epochs(config: TrainConfig, epochs: int, *, seed: int | None = None) -> TrainConfig:
    """``config`` with another epoch count (and optionally another seed)."""
    return replace(config, epochs=epochs, seed=config.seed if seed is None else seed)


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float:
    """Return ``value`` as a number after range checks; ConfigError naming ``name`` otherwise."""
    ok_type = (
        isinstance(value, int | np.integer)
        if integer
        else isinstance(value, int | float | np.integer | np.floating)
    )
    if isinstance(value, bool) or not ok_type or not math.isfinite(float(value)):  # type: ignore[arg-type]
        kind = "an integer" if integer else "a finite number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
    v = float(value)  # type: ignore[arg-type]
    if low is not None and (v <= low if low_open else v < low):
        raise ConfigError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and (v >= high if high_open else v > high):
        raise ConfigError(f"{name} must be {'<' if high_open else '<='} {high:g}, got {value!r}")
    return v
