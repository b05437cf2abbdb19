"""Module-factory recipes: a user's torch module trained like miaudit's own torch models.

Wherever a recipe takes a model name (``train_model``, every training-time defense's
``train``, ``TrainRecipe`` and ``ReferenceSettings``), it also takes a *module factory*: a
callable with no arguments returning a fresh, untrained ``torch.nn.Module`` that maps a
batch of records, as given (nothing is flattened), to logits of shape ``(batch,
num_classes)``. It is called inside the seeded block of the built-in models, so the same
seed gives the same weights. Its parameters are the built-in torch models' training
parameters (``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``momentum``,
``weight_decay``) plus ``device``: "cpu" (default), "cuda" (refused when CUDA is not
available) or "auto" (CUDA when available, else the CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from miaudit.errors import ConfigError, short_repr

#: ``factory() -> nn.Module``: a fresh, untrained module (records as given -> logits)
ModuleFactory = Callable[[], nn.Module]
#: the ``device`` values of a factory recipe
DEVICES = ("cpu", "cuda", "auto")


def is_module_factory(model: object) -> bool:
    """True for a module factory (any callable that is not a model name)."""
    return callable(model) and not isinstance(model, str)


def factory_name(factory: Callable[..., Any]) -> str:
    """``module.qualname`` of a factory (how messages and cache keys name it)."""
    module = getattr(factory, "__module__", None) or "?"
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}.{qualname}"


def resolve_device(device: object) -> str:
    """The device a factory recipe trains on: "cpu" or "cuda".

    Raises:
        ConfigError: a value other than "cpu", "cuda" or "auto", or "cuda" on a machine
        without CUDA.
    """
    if device not in DEVICES:
        raise ConfigError(f"unknown device {short_repr(device)}; valid: {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for, but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use device 'cpu' or 'auto'"
        )
    return str(device)


def build_from_factory(
    factory: ModuleFactory,
    record_shape: tuple[int, ...],
    num_classes: int,
    arch: dict[str, Any],
) -> nn.Module:
    """Call ``factory``, check what it returns, move it to ``arch["device"]``.

    The module must be an ``nn.Module`` with floating-point parameters whose output for
    records of ``record_shape`` is ``(batch, num_classes)`` logits; it is probed with two
    zero records in eval mode (no dropout, batch-norm statistics untouched, no random
    draws), before any training.

    Raises:
        ConfigError: anything else, naming the factory and what it returned.
    """
    name = factory_name(factory)
    unknown = sorted(set(arch) - {"device"})
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r} for module factory {name}")
    device = resolve_device(arch.get("device", "cpu"))
    try:
        module = factory()
    except TypeError as e:
        raise ConfigError(
            f"module factory {name} must be callable with no arguments and return a fresh "
            f"torch.nn.Module: {e}"
        ) from None
    if not isinstance(module, nn.Module):
        raise ConfigError(
            f"module factory {name} must return a torch.nn.Module, got {type(module).__name__}"
        )
    params = [p for p in module.parameters() if p.is_floating_point()]
    if not params:
        raise ConfigError(f"module factory {name} returned a module without trainable weights")
    module = module.to(device)
    dtype = params[0].dtype
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            probe = module(torch.zeros((2, *record_shape), dtype=dtype, device=device))
    except RuntimeError as e:
        raise ConfigError(
            f"the module of factory {name} cannot read records of shape {record_shape}: {e}"
        ) from None
    finally:
        module.train(was_training)
    if not isinstance(probe, torch.Tensor) or probe.ndim != 2 or probe.shape[1] != num_classes:
        got = tuple(probe.shape) if isinstance(probe, torch.Tensor) else type(probe).__name__
        raise ConfigError(
            f"the module of factory {name} must return logits of shape (batch, {num_classes}) "
            f"for the {num_classes} classes, got {got}"
        )
    return module
