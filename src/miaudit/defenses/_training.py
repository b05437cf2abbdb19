"""Shared training utilities of miaudit's training-time defenses.

Every training-time defense that trains one of miaudit's torch models (mlp, cnn,
sample_convnet) or a user's module factory (:mod:`miaudit.models._factory`) starts with
:func:`prepare_torch`: it validates ``(model, params, x, y, num_classes, seed)`` exactly as
:func:`miaudit.models.train_model` does, splits architecture from training parameters and
builds the seeded module, so a defense whose knob is zero trains the same model as no
defense. Defenses that only change the loss, the epochs or the starting weights (l2,
dropout, early stopping, label smoothing, pruning) then train with
:func:`miaudit.models.train_torch` itself (its ``loss_fn``, ``reinit`` and ``on_epoch_end``
arguments); those with their own loop (distillation, adversarial regularisation, mmd_mixup)
use the trainer's pieces re-exported here (:func:`seeded`, :func:`init_module`,
:func:`make_optimizer`, :func:`batches`, :func:`check_finite`), so they follow the same
conventions: weights re-initialised from the seed inside ``torch.random.fork_rng`` (the
global RNG is untouched), batches from a ``torch.Generator(seed)`` permutation, the fused
optimizer of the recipe, float32 records converted once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.defenses.base import DEFENSES, DefenseData
from miaudit.errors import ConfigError, DataError
from miaudit.models import (
    ModelLike,
    TrainConfig,
    build_torch_module,
    model_records,
    model_spec,
    torch_models,
)
from miaudit.models._trainer import (
    LossFn,
    batches,
    check_finite,
    make_optimizer,
    module_device,
    reset_parameters,
    seeded,
)
from miaudit.models._zoo import _split_train, check_training_inputs
from miaudit.outputs import check_labels
from miaudit.validation import check_int
from miaudit.validation import check_number as validation_number

__all__ = [
    "LossFn",
    "REFERENCE_HINT",
    "TorchSetup",
    "accuracy",
    "as_tensor",
    "batches",
    "check_finite",
    "check_number",
    "init_module",
    "make_optimizer",
    "mean_loss",
    "module_device",
    "override_param",
    "positive_int",
    "positive_number",
    "prepare_torch",
    "require_reference",
    "require_torch_model",
    "seeded",
]


# -- inputs -----------------------------------------------------------------------------------
#: how to give a defense its defender records, in the API and in a config (issue 9 item 10:
#: a config run used to get the API's advice only)
REFERENCE_HINT = (
    "pass data=DefenseData(reference=(x_ref, y_ref)) in Python; in a config set "
    "target.defense.reference_size (records taken from the population; default "
    "min(split.members, population // 2))"
)


def require_torch_model(model: ModelLike, defense: str) -> None:
    """ConfigError unless ``model`` is one of miaudit's torch models (mlp, cnn, ...) or a
    module factory."""
    spec = model_spec(model)  # unknown names: UnknownNameError listing the valid ones
    if spec.build is None:
        raise ConfigError(
            f"defense {defense!r} trains torch models only; model {model!r} is not one "
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
    """A validated torch recipe, its training data and the seeded, untrained module.

    From :func:`prepare_torch`. ``build(seed)`` makes more modules of the recipe (a student,
    stacked models) and ``prepare(x)`` brings other records (a reference set) to the form the
    module reads.

    Attributes:
        model: a torch model of the registry ("mlp", "cnn", "sample_convnet"), or a module
            factory (:mod:`miaudit.models._factory`).
        arch: architecture keyword arguments (``hidden``, ``activation``, ...).
        config: training hyper-parameters with the seed.
        record_shape: shape of one record as the module reads it (flattened for "mlp").
        num_classes: C.
        module: the module built from ``config.seed`` (what ``train_model`` would train).
        x: the training records as the module reads them (float32; flattened for "mlp").
        y: int64 training labels.
    """

    model: ModelLike
    arch: dict[str, Any]
    config: TrainConfig
    record_shape: tuple[int, ...]
    num_classes: int
    module: nn.Module
    x: np.ndarray
    y: np.ndarray

    def build(self, seed: int) -> nn.Module:
        """A new module of the recipe with weights initialised from ``seed`` (global RNG
        untouched)."""
        return build_torch_module(self.model, self.arch, self.record_shape, self.num_classes, seed)

    def prepare(self, x: np.ndarray, *, what: str = "x") -> np.ndarray:
        """Other records as the module reads them (validated; float32; flattened for "mlp")."""
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise DataError(f"{what} must be a non-empty array of records (n, ...), got {x.shape}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise DataError(f"{what} must be a numeric array, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise DataError(f"{what} contains NaN or inf")
        x = model_records(self.model, x)
        if tuple(x.shape[1:]) != self.record_shape:
            raise DataError(
                f"{what} has records of shape {tuple(x.shape[1:])}, but the training records "
                f"have shape {self.record_shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)


def prepare_torch(
    model: ModelLike,
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    defense: str,
) -> TorchSetup:
    """Validate a training-time defense's inputs, resolve the recipe, build the module.

    The same validation, parameter split and seeded construction as
    :func:`miaudit.models.train_model`.

    Raises:
        UnknownNameError: unknown model. ConfigError: ``model`` is not a torch model, unknown
        or invalid parameters, records the architecture cannot read, bad seed or
        num_classes, a module factory whose module is not a ``num_classes``-way classifier
        of the records, or an unavailable device. DataError: malformed records or labels.
    """
    require_torch_model(model, defense)
    if isinstance(params, dict) and "device" in params and defense in DEFENSES:
        device = DEFENSES.get(defense).training_device(params["device"])
        params = {**params, "device": device}
    full, x, y = check_training_inputs(model, params, x, y, num_classes, seed)
    arch, config = _split_train(full, int(seed))
    records = model_records(model, x)
    shape = tuple(records.shape[1:])
    module = build_torch_module(model, arch, shape, num_classes, config.seed)
    return TorchSetup(
        model=model,
        arch=arch,
        config=config,
        record_shape=shape,
        num_classes=num_classes,
        module=module,
        x=np.ascontiguousarray(records, dtype=np.float32),
        y=y,
    )


def require_reference(
    defense: str, data: DefenseData, setup: TorchSetup
) -> tuple[np.ndarray, np.ndarray]:
    """The defender's reference records and labels, prepared for ``setup`` (ConfigError when
    absent)."""
    if not isinstance(data, DefenseData) or data.reference is None:
        raise ConfigError(
            f"defense {defense!r} needs a reference set of records disjoint from the training "
            f"set: {REFERENCE_HINT}"
        )
    x_ref, y_ref = data.reference
    xr = setup.prepare(x_ref, what="reference records")
    y_ref = np.asarray(y_ref)
    if y_ref.shape != (xr.shape[0],):
        raise DataError(
            f"mismatched lengths: {xr.shape[0]} reference records but labels of shape {y_ref.shape}"
        )
    return xr, check_labels(y_ref, setup.num_classes, what="reference labels")


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
    """Return ``value`` as a float after range checks; ConfigError naming ``name`` otherwise
    (:func:`miaudit.validation.check_number` with open ends given as flags)."""
    closed = {(False, False): "both", (True, False): "right", (False, True): "left"}.get(
        (low_open, high_open), "neither"
    )
    return float(validation_number(value, name, low=low, high=high, closed=closed, integer=integer))


def positive_number(value: object, name: str, *, allow_zero: bool = False) -> float:
    """``check_number`` for a finite number > 0 (>= 0 with ``allow_zero``)."""
    return check_number(value, name, low=0.0, low_open=not allow_zero)


def positive_int(value: object, name: str) -> int:
    """An integer >= 1 (:func:`miaudit.validation.check_int`)."""
    return check_int(value, name, low=1)


# -- training ---------------------------------------------------------------------------------
def init_module(module: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``module``'s weights from ``seed`` as :func:`train_torch` does (global RNG
    untouched)."""
    with seeded(seed, module_device(module)):
        reset_parameters(module)
    return module


def as_tensor(module: nn.Module, x: np.ndarray) -> torch.Tensor:
    """Records as a tensor of the module's floating dtype and device."""
    p = next(p for p in module.parameters() if p.is_floating_point())
    np_dtype = np.float64 if p.dtype == torch.float64 else np.float32
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np_dtype)).to(p.device)


def mean_loss(
    module: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: LossFn = nn.functional.cross_entropy,
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


def accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``module`` on prepared records (leaves it in eval mode)."""
    module.eval()
    with torch.no_grad():
        pred = module(as_tensor(module, x)).argmax(dim=1).cpu().numpy()
    return float(np.mean(pred == y))
